// workloads.js: the workloads view — deployments with rollout progress and
// their actions (scale, roll back, pause/resume, restart), replicasets,
// a virtualised pod table and recent events, all live from the store.

import { call, patchTypes } from '../api.js';
import { h, keyed, setText, bar, toast } from '../dom.js';
import { keyOf } from '../store.js';
import { VTable } from '../vtable.js';
import {
  rolloutStatus, revisions, rollback, restartPatch, images, revisionOf,
  podStatus, podReady, podRestarts, age, controllerOf,
} from '../workload.js';

const deployPath = (ns, name) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}`;

// act runs one action and reports it.
async function act(what, fn) {
  try {
    const msg = await fn();
    toast(msg || what);
  } catch (e) {
    toast(`${what} failed: ${e.message}`, true);
  }
}

export class Workloads {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.filter = '';
    this.pods = new VTable(root.querySelector('#pods'), {
      cells: 8,
      fill: (row, p) => {
        const c = row.children;
        setText(c[0], p.metadata.namespace);
        setText(c[1], p.metadata.name);
        setText(c[2], podStatus(p));
        setText(c[3], podReady(p));
        setText(c[4], podRestarts(p));
        setText(c[5], p.spec?.nodeName || '');
        setText(c[6], p.status?.podIP || '');
        setText(c[7], age(p.metadata.creationTimestamp));
      },
    });
    root.querySelector('#filter').addEventListener('input', (e) => {
      this.filter = e.target.value.trim();
      this.render();
    });
  }

  match(obj) {
    return !this.filter || keyOf(obj).includes(this.filter);
  }

  render() {
    const s = this.store;
    const byKey = (a, b) => keyOf(a).localeCompare(keyOf(b));
    const rss = s.list('replicasets');
    const deps = s.list('deployments').filter((d) => this.match(d)).sort(byKey);
    keyed(this.root.querySelector('#deployments tbody'), deps, keyOf, (d) => this.deploymentRow(keyOf(d)), (tr, d) => this.fillDeployment(tr, d, rss));

    const owners = new Map(s.list('deployments').map((d) => [d.metadata.uid, d.metadata.name]));
    const shown = rss.filter((r) => this.match(r)).sort(byKey);
    keyed(this.root.querySelector('#replicasets tbody'), shown, keyOf, () => h('tr', {}, ...Array.from({ length: 8 }, () => h('td'))), (tr, rs) => {
      const c = tr.children;
      const st = rs.status || {};
      setText(c[0], rs.metadata.namespace);
      setText(c[1], rs.metadata.name);
      setText(c[2], revisionOf(rs) || '');
      setText(c[3], rs.spec?.replicas ?? 1);
      setText(c[4], st.replicas || 0);
      setText(c[5], st.readyReplicas || 0);
      setText(c[6], images(rs.spec?.template));
      setText(c[7], age(rs.metadata.creationTimestamp));
      tr.title = owners.has(controllerOf(rs)) ? `owned by deployment ${owners.get(controllerOf(rs))}` : '';
    });

    const pods = s.map('pods');
    this.pods.setKeys(s.shape.pods, this.filter, () => [...pods.keys()].filter((k) => !this.filter || k.includes(this.filter)).sort());
    this.pods.render((k) => pods.get(k));
    setText(this.root.querySelector('#pods-count'), `${this.pods.keys.length} of ${pods.size}`);

    const evs = s.list('events')
      .sort((a, b) => (eventTime(b) || '').localeCompare(eventTime(a) || ''))
      .slice(0, 20);
    keyed(this.root.querySelector('#events tbody'), evs, keyOf, () => h('tr', {}, h('td'), h('td'), h('td'), h('td'), h('td', { class: 'msg' })), (tr, e) => {
      const c = tr.children;
      setText(c[0], age(eventTime(e)));
      setText(c[1], e.type || '');
      setText(c[2], e.reason || '');
      setText(c[3], `${(e.involvedObject?.kind || '').toLowerCase()}/${e.involvedObject?.name || ''}`);
      setText(c[4], e.message || '');
    });
  }

  deploymentRow(key) {
    const get = () => this.store.map('deployments').get(key);
    const input = h('input', { type: 'number', min: 0, class: 'scale-input', oninput: () => { input.dataset.dirty = '1'; } });
    const scale = h('button', { type: 'button', class: 'scale', onclick: () => {
      const d = get();
      const n = parseInt(input.value, 10);
      if (!d || Number.isNaN(n) || n < 0) { toast('Scale: enter a replica count of 0 or more', true); return; }
      act(`Scale ${key}`, async () => {
        await call(`${deployPath(d.metadata.namespace, d.metadata.name)}/scale`, { method: 'PATCH', body: { spec: { replicas: n } }, contentType: patchTypes.merge });
        delete input.dataset.dirty;
        return `Scaled ${key} to ${n}`;
      });
    } }, 'Scale');
    const select = h('select', { class: 'revision' });
    const undo = h('button', { type: 'button', class: 'rollback', onclick: () => {
      const d = get();
      const rev = parseInt(select.value, 10);
      const target = d && revisions(d, this.store.list('replicasets')).find((r) => r.revision === rev);
      if (!target) { toast('Roll back: choose a revision', true); return; }
      act(`Roll back ${key}`, async () => {
        const r = rollback(d, target.rs);
        if (r.error) throw new Error(r.error);
        if (r.skip) return r.skip;
        await call(deployPath(d.metadata.namespace, d.metadata.name), { method: 'PATCH', body: r.patch, contentType: patchTypes.json });
        return `Rolled ${key} back to revision ${rev} (${target.images})`;
      });
    } }, 'Roll back');
    const pause = h('button', { type: 'button', class: 'pause', onclick: () => {
      const d = get();
      if (!d) return;
      const paused = !d.spec?.paused;
      act(`${paused ? 'Pause' : 'Resume'} ${key}`, async () => {
        await call(deployPath(d.metadata.namespace, d.metadata.name), { method: 'PATCH', body: { spec: { paused } }, contentType: patchTypes.merge });
        return `${paused ? 'Paused' : 'Resumed'} ${key}`;
      });
    } }, 'Pause');
    const restart = h('button', { type: 'button', class: 'restart', onclick: () => {
      const d = get();
      if (!d) return;
      if (d.spec?.paused) { toast(`Restart ${key}: can't restart a paused deployment (resume it first)`, true); return; }
      act(`Restart ${key}`, async () => {
        await call(deployPath(d.metadata.namespace, d.metadata.name), { method: 'PATCH', body: restartPatch(), contentType: patchTypes.strategic });
        return `Restarted ${key}`;
      });
    } }, 'Restart');
    const rollout = h('div', { class: 'rollout' }, h('span', { class: 'bars' }), h('span', { class: 'text' }));
    return h('tr', {},
      h('td'), h('td'), h('td'), h('td'), h('td'), h('td'),
      h('td', {}, rollout),
      h('td', {}, h('div', { class: 'actions' }, input, scale)),
      h('td', {}, h('div', { class: 'actions' }, select, undo)),
      h('td', {}, h('div', { class: 'actions' }, pause, restart)));
  }

  fillDeployment(tr, d, rss) {
    const c = tr.children;
    const st = d.status || {};
    const want = d.spec?.replicas ?? 1;
    setText(c[0], d.metadata.namespace);
    setText(c[1], d.metadata.name);
    setText(c[2], `${st.readyReplicas || 0}/${want}`);
    setText(c[3], st.updatedReplicas || 0);
    setText(c[4], st.availableReplicas || 0);
    setText(c[5], images(d.spec?.template));
    const ro = rolloutStatus(d);
    const box = c[6].firstChild;
    box.classList.toggle('done', ro.done);
    box.firstChild.replaceChildren(bar(want ? ro.updated / want : 1), bar(want ? ro.available / want : 1, 'avail'));
    box.firstChild.title = `updated ${ro.updated}/${want}, available ${ro.available}/${want}`;
    setText(box.lastChild, (d.spec?.paused ? '(paused) ' : '') + ro.message);
    const input = c[7].querySelector('input');
    if (document.activeElement !== input && !input.dataset.dirty) input.value = want;
    const select = c[8].querySelector('select');
    const revs = revisions(d, rss);
    const current = revisionOf(d);
    const sig = revs.map((r) => `${r.revision}:${r.images}`).join('|') + `@${current}`;
    if (select.dataset.sig !== sig) {
      const keep = select.value;
      select.replaceChildren(...revs.map((r) => h('option', { value: String(r.revision) },
        `${r.revision}${r.revision === current ? ' (current)' : ''}: ${r.images}`)));
      const prev = revs.find((r) => r.revision !== current);
      select.value = revs.some((r) => String(r.revision) === keep) ? keep : (prev ? String(prev.revision) : '');
      select.dataset.sig = sig;
    }
    setText(c[9].querySelector('.pause'), d.spec?.paused ? 'Resume' : 'Pause');
  }
}

function eventTime(e) {
  return e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp;
}
