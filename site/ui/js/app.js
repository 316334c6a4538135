// app.js: sign-in, routing between views, and rendering the store as the
// stream fills it (at most once per animation frame).

import { token, checkToken } from './api.js';
import { Store } from './store.js';
import { Stream } from './stream.js';
import { toast } from './dom.js';
import { loadServers, renderServers, renderNodes } from './views/cluster.js';
import { Workloads } from './views/workloads.js';
import { Playground } from './views/playground.js';
import { Policies } from './views/policies.js';

const $ = (sel) => document.querySelector(sel);
const VIEWS = ['cluster', 'workloads', 'policies', 'playground'];

const store = new Store();
let stream = null;
let servers = { servers: [], nodeSerf: new Map(), note: '' };
let workloads = null;
let playground = null;
let policies = null;
let pending = false;

// perf is read by the browser tests: frames applied and rendered, the
// first paint of the pod list, and (when perf.log is an array) every batch
// and render with its time.
const perf = { frames: 0, syncs: 0, syncAt: {}, batches: 0, renders: 0, firstPodsPaint: 0, log: null };
window.skiff = { store, perf, get stream() { return stream; }, get playground() { return playground; }, get policies() { return policies; } };

function view() {
  const v = location.hash.replace(/^#\//, '');
  return VIEWS.includes(v) ? v : 'cluster';
}

function render() {
  pending = false;
  const t0 = performance.now();
  const v = view();
  if (v === 'cluster') renderNodes($('#view-cluster'), store, servers.nodeSerf);
  else if (v === 'workloads') workloads.render();
  else if (v === 'policies') policies.render();
  const t1 = performance.now();
  perf.renders++;
  if (perf.log) perf.log.push({ at: t0, renderMs: t1 - t0, frames: perf.frames });
  if (!perf.firstPodsPaint && v === 'workloads' && store.map('pods').size > 0) {
    requestAnimationFrame(() => { perf.firstPodsPaint = performance.now(); });
  }
}

function schedule() {
  if (!pending) {
    pending = true;
    requestAnimationFrame(render);
  }
}

async function refreshServers() {
  try {
    servers = await loadServers();
  } catch (e) {
    servers = { servers: [], nodeSerf: new Map(), note: e.message };
  }
  renderServers($('#view-cluster'), servers);
  schedule();
}

function route() {
  const v = view();
  for (const name of VIEWS) {
    $(`#view-${name}`).hidden = name !== v;
    document.querySelector(`nav a[data-view="${name}"]`).classList.toggle('active', name === v);
  }
  if (v === 'cluster') refreshServers();
  if (v === 'playground') playground.opened();
  if (v === 'policies') policies.load();
  schedule();
}

function setConn(state, detail) {
  const el = $('#conn');
  el.className = `conn ${state}`;
  el.textContent = state === 'live' ? 'live' : state === 'down' ? `reconnecting (${detail})` : 'connecting…';
  el.dataset.state = state;
  if (state === 'live' && stream.connects > 1 && view() === 'cluster') refreshServers();
}

function showSignIn(message) {
  if (stream) stream.stop();
  stream = null;
  for (const name of VIEWS) $(`#view-${name}`).hidden = true;
  $('#nav').hidden = $('#conn').hidden = $('#signout').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message || '';
  $('#token').focus();
}

function start() {
  $('#signin').hidden = true;
  $('#nav').hidden = $('#conn').hidden = $('#signout').hidden = false;
  stream = new Stream(store, {
    onFrames(frames) {
      const t0 = performance.now();
      for (const f of frames) {
        store.apply(f);
        if (f.type === 'SYNC') {
          perf.syncs++;
          perf.syncAt[f.resource] ??= t0;
        }
      }
      perf.frames += frames.length;
      perf.batches++;
      if (!perf.firstByteAt) perf.firstByteAt = t0;
      if (perf.log) perf.log.push({ at: t0, applyMs: performance.now() - t0, n: frames.length });
      schedule();
    },
    onState: setConn,
    onAuth(msg) {
      token.clear();
      showSignIn(`Signed out: the API server refused the token (${msg}).`);
    },
  });
  stream.start();
  route();
}

$('#signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const t = $('#token').value.trim();
  $('#signin-error').textContent = '';
  if (!t) return;
  $('#signin-submit').disabled = true;
  try {
    await checkToken(t);
    token.set(t);
    $('#token').value = '';
    start();
  } catch (err) {
    $('#signin-error').textContent = err.message;
  } finally {
    $('#signin-submit').disabled = false;
  }
});

$('#signout').addEventListener('click', () => {
  token.clear();
  showSignIn('Signed out.');
});
$('#servers-refresh').addEventListener('click', refreshServers);
window.addEventListener('hashchange', () => { if (stream) route(); });

workloads = new Workloads($('#view-workloads'), store);
playground = new Playground($('#view-playground'));
policies = new Policies($('#view-policies'), store);
if (token.get()) start();
else showSignIn();

window.addEventListener('unhandledrejection', (e) => toast(String(e.reason?.message || e.reason), true));
