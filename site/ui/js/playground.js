// playground.js: runs a scheduling module in the browser's WebAssembly
// engine. The Go half (wasm/playground.wasm, package site/playground built
// for js) turns the scenario into ABI records, drives the module's arena and
// replays the pending pods exactly as the server does; this file loads it,
// instantiates modules with the WASI shim, and fetches what the server has.

import { call, token } from './api.js';
import { wasiImports } from './wasi.js';

let goReady = null;

// loadGo starts the Go half once; it rejects when it was not built.
export function loadGo() {
  goReady ??= (async () => {
    const resp = await fetch('wasm/playground.wasm', { cache: 'no-cache' });
    if (!resp.ok) throw new Error('The playground was not built into this server (make build writes site/ui/wasm/playground.wasm).');
    await import('../wasm/wasm_exec.js');
    const go = new globalThis.Go();
    const ready = new Promise((resolve) => { globalThis.skiffPlaygroundReady = resolve; });
    const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    go.run(instance);
    await ready;
    return globalThis.skiffPlayground;
  })();
  goReady.catch(() => { goReady = null; });
  return goReady;
}

// compile compiles module bytes (checking they are wasm first).
export async function compile(bytes) {
  const b = new Uint8Array(bytes);
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) {
    throw new Error('not a WebAssembly module (no \\0asm magic)');
  }
  return WebAssembly.compile(b);
}

// run replays scenario through a compiled module on a fresh instance and
// answers the Go half's result ({nodes, decisions, hooks, info} or throws).
export async function run(module, scenario) {
  const pg = await loadGo();
  const wasi = wasiImports(module);
  const instance = await WebAssembly.instantiate(module, wasi.imports);
  wasi.bind(instance);
  if (typeof instance.exports._initialize === 'function') instance.exports._initialize();
  else throw new Error('module has no _initialize export (build it with -buildmode=c-shared)');
  const t0 = performance.now();
  const res = JSON.parse(pg.replay(instance.exports, JSON.stringify(scenario)));
  res.ms = performance.now() - t0;
  res.log = wasi.log.text;
  if (res.error) throw new Error(res.error);
  return res;
}

async function bytes(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${token.get()}` }, cache: 'no-store' });
  if (!resp.ok) {
    let msg = await resp.text();
    try { msg = JSON.parse(msg).message || msg; } catch { /* plain */ }
    throw new Error(`${resp.status} ${msg}`);
  }
  return resp.arrayBuffer();
}

// moduleBytes fetches the built-in scheduler ("builtin") or an uploaded
// module by PolicyModule name.
export function moduleBytes(ref) {
  return bytes(`api/modules/${ref === 'builtin' ? 'builtin-scheduler.wasm' : encodeURIComponent(ref)}`);
}

// liveSnapshot is the cluster as a wasm/snapshot document.
export function liveSnapshot() {
  return call('api/snapshot');
}

// serverDecide asks the server for its decisions for the same snapshot and
// module (a reference, or the bytes of a local file).
export function serverDecide(snapshot, ref, wasm) {
  const body = { snapshot };
  if (wasm) body.wasm = base64(new Uint8Array(wasm));
  else body.module = ref;
  return call('api/decide', { method: 'POST', body });
}

function base64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s);
}

// uploadedModules lists PolicyModules and which SchedulingPolicies use
// them (either may be refused: the list is then shorter, not an error).
export async function uploadedModules() {
  const [mods, pols] = await Promise.allSettled([
    call('/apis/skiff.dev/v1alpha1/policymodules'), call('/apis/skiff.dev/v1alpha1/schedulingpolicies')]);
  const users = new Map();
  for (const p of pols.status === 'fulfilled' ? pols.value.items || [] : []) {
    const name = (p.spec?.module || '').replace(/^sha256:/, 'sha256-');
    users.set(name, [...(users.get(name) || []), p.metadata.name]);
  }
  return (mods.status === 'fulfilled' ? mods.value.items || [] : [])
    .filter((m) => (m.spec?.hooks || []).some((h) => h === 'filter' || h === 'score'))
    .map((m) => ({ name: m.metadata.name, size: m.spec?.size, policies: users.get(m.metadata.name) || [] }));
}

// Standard filter reason bits (wasm/abi).
const REASONS = ['Insufficient cpu', 'Insufficient memory', 'Too many pods', "didn't match the node name",
  "didn't match node affinity/selector", 'untolerated taint', 'unschedulable', 'not ready'];

export function reasonText(bits, info) {
  const out = [];
  for (let b = 0; b < 32; b++) {
    if (!(bits & (1 << b))) continue;
    out.push(REASONS[b] || info?.reasons?.[b] || `reason bit ${b}`);
  }
  return out.join(', ');
}

export const VERDICTS = { 1: 'Feasible', 2: 'Unschedulable', 3: 'Unresolvable' };
