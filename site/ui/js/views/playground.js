// playground.js (view): pick one or two scheduling modules (the built-in
// scheduler, an uploaded module, a local .wasm file), take a snapshot of the
// live cluster or edit a scenario, run the modules in this browser and show
// per pod the node × phase matrix; check the answer against the server's.

import { h, toast } from '../dom.js';
import { parseQuantity, podRequests, formatCPU, formatBytes } from '../quantity.js';
import { compile, run, moduleBytes, liveSnapshot, serverDecide, uploadedModules, reasonText, VERDICTS } from '../playground.js';

const emptyScenario = () => ({ version: 1, source: 'playground', nodes: [], bound: [], pending: [] });

export function newNode(name, cpu, memory, pods = '110') {
  const alloc = { cpu: String(cpu), memory: String(memory), pods: String(pods) };
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: { capacity: alloc, allocatable: alloc, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

export function newPod(name, cpu, memory) {
  return {
    metadata: { namespace: 'default', name },
    spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: String(cpu), memory: String(memory) } } }] },
  };
}

export class Playground {
  constructor(root) {
    this.root = root;
    this.scenario = emptyScenario();
    this.results = { a: null, b: null };
    this.server = null;
    this.files = { a: null, b: null };
    this.$ = (sel) => root.querySelector(sel);
    this.$('#pg-snapshot').addEventListener('click', () => this.snapshot());
    this.$('#pg-new').addEventListener('click', () => { this.scenario = emptyScenario(); this.changed(); });
    this.$('#pg-run').addEventListener('click', () => this.runAll());
    this.$('#pg-check').addEventListener('click', () => this.check());
    this.$('#pg-add-node').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const name = f.name.value.trim() || `node-${this.scenario.nodes.length + 1}`;
      if (this.scenario.nodes.some((n) => n.metadata.name === name)) { toast(`Node ${name} exists`, true); return; }
      this.scenario.nodes.push(newNode(name, f.cpu.value || '4', f.memory.value || '8Gi'));
      f.name.value = '';
      this.changed();
    });
    this.$('#pg-add-pod').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const count = Math.max(1, Math.min(500, Number(f.count.value) || 1));
      for (let i = 0; i < count; i++) {
        const name = (count === 1 && f.name.value.trim()) || `${f.name.value.trim() || 'pod'}-${this.scenario.pending.length + 1}`;
        this.scenario.pending.push(newPod(name, f.cpu.value || '100m', f.memory.value || '128Mi'));
      }
      this.changed();
    });
    for (const side of ['a', 'b']) {
      this.$(`#pg-module-${side}`).addEventListener('change', (e) => {
        this.$(`#pg-file-${side}`).hidden = e.target.value !== 'file';
      });
      this.$(`#pg-file-${side}`).addEventListener('change', (e) => {
        this.files[side] = e.target.files[0] || null;
      });
    }
    this.changed();
  }

  // opened refreshes the uploaded modules offered.
  async opened() {
    let mods = [];
    try { mods = await uploadedModules(); } catch { /* offered without them */ }
    for (const side of ['a', 'b']) {
      const sel = this.$(`#pg-module-${side}`);
      const keep = sel.value;
      for (const o of [...sel.options]) if (o.dataset.uploaded) o.remove();
      const fileOpt = [...sel.options].find((o) => o.value === 'file');
      for (const m of mods) {
        const label = `${m.policies.length ? m.policies.join(', ') : 'unused'} — ${m.name.slice(0, 19)}…`;
        const o = h('option', { value: m.name }, label);
        o.dataset.uploaded = '1';
        sel.insertBefore(o, fileOpt);
      }
      if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    }
  }

  async snapshot() {
    try {
      this.scenario = await liveSnapshot();
      this.scenario.bound ??= [];
      this.scenario.pending ??= [];
      this.changed();
      toast(`Snapshot: ${this.scenario.nodes.length} nodes, ${this.scenario.pending.length} pending pods`);
    } catch (e) {
      toast(`Snapshot failed: ${e.message}`, true);
    }
  }

  changed() {
    this.results = { a: null, b: null };
    this.server = null;
    this.renderScenario();
    this.renderResults();
  }

  // load resolves one side's choice to {label, ref, bytes}, or null.
  async load(side) {
    const v = this.$(`#pg-module-${side}`).value;
    if (!v) return null;
    if (v === 'file') {
      const f = this.files[side];
      if (!f) throw new Error(`module ${side.toUpperCase()}: choose a .wasm file`);
      return { label: f.name, ref: null, bytes: await f.arrayBuffer() };
    }
    const label = v === 'builtin' ? 'built-in scheduler' : v;
    return { label, ref: v, bytes: await moduleBytes(v) };
  }

  async runAll() {
    const status = this.$('#pg-status');
    if (this.scenario.nodes.length === 0) { status.textContent = 'The scenario has no nodes.'; return; }
    this.$('#pg-run').disabled = true;
    status.textContent = 'Running…';
    delete status.dataset.done;
    this.results = { a: null, b: null };
    this.server = null;
    try {
      for (const side of ['a', 'b']) {
        const m = await this.load(side);
        if (!m) continue;
        try {
          const res = await run(await compile(m.bytes), this.scenario);
          this.results[side] = { ...res, module: m };
        } catch (e) {
          this.results[side] = { error: e.message, module: m, decisions: [], nodes: [] };
        }
      }
      const parts = ['a', 'b'].filter((s) => this.results[s]).map((s) => {
        const r = this.results[s];
        return r.error ? `${s.toUpperCase()} failed: ${r.error}` : `${s.toUpperCase()} (${r.module.label}): ${r.decisions.length} pods in ${r.ms.toFixed(1)} ms`;
      });
      status.textContent = parts.join(' · ');
    } catch (e) {
      status.textContent = e.message;
    } finally {
      status.dataset.done = '1';
      this.$('#pg-run').disabled = false;
      this.renderResults();
    }
  }

  // check asks the server for module A's decisions on the same scenario.
  async check() {
    const a = this.results.a;
    const out = this.$('#pg-server');
    delete out.dataset.agree;
    if (!a || a.error) { out.textContent = 'Run module A first.'; return; }
    out.textContent = 'Asking the server…';
    try {
      const srv = await serverDecide(this.scenario, a.module.ref, a.module.ref ? null : a.module.bytes);
      this.server = srv;
      const diff = a.decisions.filter((d, i) => (srv.decisions[i]?.node || '') !== (d.node || '') || srv.decisions[i]?.pod !== d.pod);
      const agree = diff.length === 0 && srv.decisions.length === a.decisions.length;
      out.dataset.agree = agree ? 'yes' : 'no';
      out.textContent = agree
        ? `The server (wazero) places all ${a.decisions.length} pods as this browser did.`
        : `The server differs on ${diff.length} pod(s): ${diff.map((d) => d.pod).join(', ')}`;
    } catch (e) {
      out.dataset.agree = 'error';
      out.textContent = `Server check failed: ${e.message}`;
    }
    this.renderResults();
  }

  renderScenario() {
    const s = this.scenario;
    const nodes = this.$('#pg-nodes tbody');
    nodes.replaceChildren(...s.nodes.map((n, i) => {
      const a = n.status?.allocatable || n.status?.capacity || {};
      const used = s.bound.filter((p) => p.spec?.nodeName === n.metadata.name);
      const req = used.reduce((acc, p) => { const r = podRequests(p); return { cpu: acc.cpu + r.cpu, memory: acc.memory + r.memory }; }, { cpu: 0, memory: 0 });
      return h('tr', { 'data-key': n.metadata.name },
        h('td', {}, n.metadata.name),
        h('td', {}, `${formatCPU(req.cpu)} / ${formatCPU(parseQuantity(a.cpu))}`),
        h('td', {}, `${formatBytes(req.memory)} / ${formatBytes(parseQuantity(a.memory))}`),
        h('td', {}, `${used.length} / ${a.pods || '?'}`),
        h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => { s.nodes.splice(i, 1); this.changed(); } }, 'Remove')));
    }));
    const pods = this.$('#pg-pods tbody');
    pods.replaceChildren(...s.pending.map((p, i) => {
      const r = podRequests(p);
      return h('tr', { 'data-key': `${p.metadata.namespace}/${p.metadata.name}` },
        h('td', {}, `${p.metadata.namespace}/${p.metadata.name}`),
        h('td', {}, formatCPU(r.cpu)), h('td', {}, formatBytes(r.memory)),
        h('td', {}, p.spec?.schedulerName || ''),
        h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => { s.pending.splice(i, 1); this.changed(); } }, 'Remove')));
    }));
    this.$('#pg-scenario-note').textContent =
      `${s.nodes.length} nodes, ${s.bound.length} pods bound, ${s.pending.length} pending${s.source ? ` (from ${s.source})` : ''}`;
  }

  renderResults() {
    const { a, b } = this.results;
    const summary = this.$('#pg-summary');
    const matrix = this.$('#pg-matrix');
    if (!a && !b) { summary.replaceChildren(); matrix.replaceChildren(); return; }
    const sides = [['a', a], ['b', b]].filter(([, r]) => r);
    const head = h('tr', {}, h('th', {}, 'Pod'), ...sides.map(([s, r]) => h('th', {}, `${s.toUpperCase()}: ${r.module.label}`)),
      b && a ? h('th', {}, 'Same?') : null, this.server ? h('th', {}, 'Server (A)') : null);
    const pods = (a || b).decisions.map((d) => d.pod);
    const rows = pods.map((pod, i) => {
      const da = a?.decisions[i], db = b?.decisions[i];
      const cell = (d) => h('td', { class: 'placement' }, d ? (d.error ? `error: ${d.error}` : (d.node || '— unschedulable')) : '');
      const differ = a && b && (da?.node || '') !== (db?.node || '');
      return h('tr', { 'data-pod': pod, class: differ ? 'differ' : '' }, h('td', {}, pod), ...sides.map(([, r]) => cell(r.decisions[i])),
        a && b ? h('td', {}, differ ? 'differ' : 'same') : null,
        this.server ? h('td', { class: 'server' }, this.server.decisions[i]?.node || '—') : null);
    });
    summary.replaceChildren(h('table', { class: 'grid' }, h('thead', {}, head), h('tbody', {}, rows)));
    matrix.replaceChildren(...pods.map((pod, i) => this.podMatrix(pod, sides.map(([s, r]) => [s, r, r.decisions[i]]))));
  }

  // podMatrix is one pod's node × phase table: per module, the filter
  // verdict with its reasons, the score, and the choice.
  podMatrix(pod, sides) {
    const nodes = sides.find(([, r]) => r.nodes?.length)?.[1].nodes || [];
    const head = h('tr', {}, h('th', {}, 'Node'), ...sides.flatMap(([s]) => [h('th', {}, `${s.toUpperCase()} filter`), h('th', {}, `${s.toUpperCase()} score`)]));
    const rows = nodes.map((name, j) => h('tr', {}, h('td', {}, name), ...sides.flatMap(([, r, d]) => {
      if (!d || d.error) return [h('td', {}, d?.error ? 'error' : ''), h('td')];
      const v = d.verdicts?.[j] || {};
      const ok = v.verdict === 1;
      const chosen = d.node === name;
      return [
        h('td', { class: ok ? 'ok' : 'bad' }, VERDICTS[v.verdict] || '?', ok ? '' : ` (${reasonText(v.reasons, r.info)})`),
        h('td', { class: chosen ? 'chosen' : '' }, ok ? String(d.scores?.[j] ?? 0) : '', chosen ? ' ★' : (d.best?.includes(name) ? ' (tie)' : '')),
      ];
    })));
    const title = sides.map(([s, , d]) => `${s.toUpperCase()} → ${d?.node || (d?.error ? 'error' : 'none')}`).join(' · ');
    return h('details', { class: 'pod-matrix', 'data-pod': pod }, h('summary', {}, `${pod}: ${title}`),
      h('table', { class: 'grid' }, h('thead', {}, head), h('tbody', {}, rows)));
  }
}
