// cluster.js: the cluster view — the control servers (raft and Serf) and
// the nodes with what their pods request, as a table and a packing picture.

import { call } from '../api.js';
import { h, keyed, setText, bar } from '../dom.js';
import { parseQuantity, podRequests, formatCPU, formatBytes } from '../quantity.js';

// servers fetches the servers' status and members. Neither is watchable:
// they are fetched when the view opens, on Refresh and on reconnect.
export async function loadServers() {
  const [members, status] = await Promise.allSettled([call('/skiff/v1/members'), call('/skiff/v1/status')]);
  const rows = new Map();
  const notes = [];
  const row = (name) => {
    if (!rows.has(name)) rows.set(name, { name });
    return rows.get(name);
  };
  if (status.status === 'fulfilled' && Array.isArray(status.value)) {
    for (const s of status.value) Object.assign(row(s.name), { raft: s });
  } else {
    notes.push(`raft status unavailable (${status.reason?.message || 'no answer'})`);
  }
  const nodeSerf = new Map();
  if (members.status === 'fulfilled' && Array.isArray(members.value)) {
    for (const m of members.value) {
      if (m.role === 'node') {
        nodeSerf.set(m.tags?.node || m.name, m.status);
        continue;
      }
      Object.assign(row(m.name), { member: m });
    }
  } else {
    notes.push(`Serf members unavailable (${members.reason?.message || 'no answer'})`);
  }
  if (![...rows.values()].some((r) => r.raft)) {
    // Without /skiff/v1/status, this server's own raft figures still show.
    try {
      const m = parseMetrics(await call('/metrics'));
      const self = [...rows.values()].find((r) => r.member?.tags?.api === location.host) || row(`this server (${location.host})`);
      self.raft = {
        state: m.skiff_store_is_leader === 1 ? 'Leader' : (m.skiff_store_has_leader === 1 ? 'Follower' : 'Candidate'),
        term: m.skiff_store_raft_term, commitIndex: m.skiff_store_commit_index, appliedIndex: m.skiff_store_applied_index,
        apiAddr: location.host, self: true,
      };
      notes.push("showing this server's own raft figures from /metrics");
    } catch (e) {
      notes.push(`metrics unavailable (${e.message})`);
    }
  }
  return { servers: [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)), nodeSerf, note: notes.join('; ') };
}

export function parseMetrics(text) {
  const out = {};
  for (const line of String(text).split('\n')) {
    const m = /^(skiff_store_[a-z_]+)\s+(\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function roleBadge(state) {
  if (!state) return h('span', { class: 'badge' }, 'unknown');
  if (state === 'Leader') return h('span', { class: 'badge leader' }, '★ Leader');
  if (state === 'Follower') return h('span', { class: 'badge ok' }, state);
  return h('span', { class: 'badge bad' }, state);
}

export function renderServers(root, data) {
  const tbody = root.querySelector('#servers tbody');
  setText(root.querySelector('#servers-note'), data.note || '');
  keyed(tbody, data.servers, (s) => s.name, () => h('tr', {}, ...Array.from({ length: 10 }, () => h('td'))), (tr, s) => {
    const r = s.raft || {};
    const m = s.member || {};
    const td = tr.children;
    tr.classList.toggle('leader', r.state === 'Leader');
    setText(td[0], s.name);
    td[1].replaceChildren(roleBadge(r.state), r.error ? ` ${r.error}` : '');
    setText(td[2], r.voter === undefined ? '' : (r.voter ? 'yes' : 'no'));
    setText(td[3], r.term ?? '');
    setText(td[4], r.commitIndex ?? '');
    setText(td[5], r.appliedIndex ?? '');
    setText(td[6], r.lastContactMillis === undefined || r.lastContactMillis < 0 ? '' : `${r.lastContactMillis} ms`);
    setText(td[7], r.raftAddr || m.tags?.raft || '');
    setText(td[8], r.apiAddr || m.tags?.api || '');
    setText(td[9], m.status || '');
  });
}

function nodeReady(n) {
  const c = (n.status?.conditions || []).find((x) => x.type === 'Ready');
  return c ? c.status : 'Unknown';
}

function internalIP(n) {
  return (n.status?.addresses || []).find((a) => a.type === 'InternalIP')?.address || '';
}

// nodeUsage sums the requests of the pods bound to each node that still
// hold resources (not Succeeded or Failed).
export function nodeUsage(nodes, pods) {
  const use = new Map(nodes.map((n) => [n.metadata.name, { cpu: 0, memory: 0, pods: [] }]));
  let unscheduled = 0;
  for (const p of pods) {
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const u = use.get(p.spec?.nodeName || '');
    if (!u) { if (!p.spec?.nodeName) unscheduled++; continue; }
    const r = podRequests(p);
    u.cpu += r.cpu;
    u.memory += r.memory;
    u.pods.push(p);
  }
  return { use, unscheduled };
}

export function renderNodes(root, store, nodeSerf = new Map()) {
  const nodes = store.list('nodes').sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const { use, unscheduled } = nodeUsage(nodes, store.list('pods'));
  const notes = [];
  if (nodes.length === 0) notes.push('No nodes have registered (a server started without --with-node runs no pods).');
  if (unscheduled) notes.push(`${unscheduled} pod(s) not scheduled to a node.`);
  setText(root.querySelector('#nodes-note'), notes.join(' '));
  keyed(root.querySelector('#nodes tbody'), nodes, (n) => n.metadata.name, () => h('tr', {}, ...Array.from({ length: 6 }, () => h('td'))), (tr, n) => {
    const alloc = n.status?.allocatable || n.status?.capacity || {};
    const cpu = parseQuantity(alloc.cpu);
    const mem = parseQuantity(alloc.memory);
    const u = use.get(n.metadata.name);
    const ready = nodeReady(n);
    const td = tr.children;
    setText(td[0], n.metadata.name);
    td[1].replaceChildren(h('span', { class: `badge ${ready === 'True' ? 'ok' : 'bad'}` }, ready === 'True' ? 'Ready' : 'NotReady'),
      n.spec?.unschedulable ? ' SchedulingDisabled' : '', nodeSerf.has(n.metadata.name) ? ` serf: ${nodeSerf.get(n.metadata.name)}` : '');
    td[2].replaceChildren(bar(cpu ? u.cpu / cpu : 0), `${formatCPU(u.cpu)} / ${formatCPU(cpu)}`);
    td[3].replaceChildren(bar(mem ? u.memory / mem : 0), `${formatBytes(u.memory)} / ${formatBytes(mem)}`);
    setText(td[4], `${u.pods.length} / ${alloc.pods || '?'}`);
    setText(td[5], internalIP(n));
  });
  keyed(root.querySelector('#packing'), nodes, (n) => n.metadata.name, () => h('div', { class: 'node' }, h('h4'), h('div', { class: 'pods' })), (el, n) => {
    const u = use.get(n.metadata.name);
    setText(el.firstChild, `${n.metadata.name} — ${u.pods.length} pods`);
    const squares = u.pods.sort((a, b) => podRequests(b).cpu - podRequests(a).cpu).map((p) =>
      h('span', { class: `pod ${p.status?.phase || ''}`, title: `${p.metadata.namespace}/${p.metadata.name} ${formatCPU(podRequests(p).cpu)} CPU` }));
    el.lastChild.replaceChildren(...squares);
  });
}
