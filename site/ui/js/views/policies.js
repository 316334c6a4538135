// policies.js: the Policies view — uploaded scheduling modules and the
// SchedulingPolicies that run them: versions (each policy's module
// history), upload with the server's validation error shown, switching a
// policy's module and rolling back, and shadow-mode differences (status
// counts and the ShadowPlacement events from the stream).

import { call, patchTypes } from '../api.js';
import { h, keyed, setText, toast } from '../dom.js';

const GROUP = '/apis/skiff.dev/v1alpha1';

const short = (digest) => (digest || '').replace(/^sha256[:-]/, '').slice(0, 12);
const nameOf = (digest) => (digest || '').replace(/^sha256:/, 'sha256-');
const digestOf = (name) => (name || '').replace(/^sha256-/, 'sha256:');

function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function condition(p, type) {
  return (p.status?.conditions || []).find((c) => c.type === type);
}

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return `sha256:${[...d].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function base64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s);
}

// statusMessage is the API's message with its field causes.
function statusMessage(e) {
  const causes = (e.body?.details?.causes || []).map((c) => `${c.field ? `${c.field}: ` : ''}${c.message}`);
  const msg = e.body?.message || e.message;
  return causes.length && !causes.every((c) => msg.includes(c)) ? `${msg} (${causes.join('; ')})` : msg;
}

export class Policies {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.modules = [];
    this.policies = [];
    this.$ = (sel) => root.querySelector(sel);
    this.$('#pol-refresh').addEventListener('click', () => this.load());
    this.$('#pol-upload').addEventListener('submit', (e) => { e.preventDefault(); this.upload(); });
  }

  async load() {
    const [mods, pols] = await Promise.allSettled([call(`${GROUP}/policymodules`), call(`${GROUP}/schedulingpolicies`)]);
    const notes = [];
    if (mods.status === 'fulfilled') this.modules = mods.value.items || [];
    else notes.push(`modules: ${mods.reason.message}`);
    if (pols.status === 'fulfilled') this.policies = pols.value.items || [];
    else notes.push(`policies: ${pols.reason.message}`);
    setText(this.$('#pol-note'), notes.join('; '));
    this.renderTables();
    this.renderShadow();
  }

  // upload creates the PolicyModule (named by its digest; an existing one
  // is reused) and points the policy at it, creating the policy if new.
  async upload() {
    const err = this.$('#pol-error');
    err.textContent = '';
    const f = this.$('#pol-file').files[0];
    const name = this.$('#pol-name').value.trim();
    const shadow = this.$('#pol-shadow').checked;
    if (!f || !name) { err.textContent = 'Choose a .wasm file and name the policy.'; return; }
    const btn = this.$('#pol-submit');
    btn.disabled = true;
    try {
      const bytes = new Uint8Array(await f.arrayBuffer());
      const digest = await sha256(bytes);
      try {
        await call(`${GROUP}/policymodules`, { method: 'POST', body: {
          apiVersion: 'skiff.dev/v1alpha1', kind: 'PolicyModule', metadata: { name: nameOf(digest) }, spec: { wasm: base64(bytes) } } });
      } catch (e) {
        if (e.status !== 409) throw new Error(`The server refused ${f.name} (${e.status}): ${statusMessage(e)}`);
      }
      const spec = { module: digest, shadow: shadow || undefined, shadowOf: shadow ? 'default-scheduler' : undefined };
      try {
        await call(`${GROUP}/schedulingpolicies/${encodeURIComponent(name)}`, { method: 'PATCH', contentType: patchTypes.merge,
          body: { spec: { module: digest, shadow: shadow ? true : null, shadowOf: shadow ? 'default-scheduler' : null } } });
      } catch (e) {
        if (e.status !== 404) throw new Error(`Policy ${name}: ${statusMessage(e)}`);
        await call(`${GROUP}/schedulingpolicies`, { method: 'POST', body: {
          apiVersion: 'skiff.dev/v1alpha1', kind: 'SchedulingPolicy', metadata: { name }, spec } });
      }
      toast(`Policy ${name} runs module ${short(digest)}${shadow ? ' in shadow mode' : ''}`);
      this.$('#pol-upload').reset();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      btn.disabled = false;
      await this.load();
    }
  }

  async setModule(p, digest, verb) {
    try {
      await call(`${GROUP}/schedulingpolicies/${encodeURIComponent(p.metadata.name)}`, { method: 'PATCH', contentType: patchTypes.merge,
        body: { metadata: { resourceVersion: p.metadata.resourceVersion }, spec: { module: digest } } });
    } catch (e) {
      toast(`${verb} ${p.metadata.name}: ${statusMessage(e)}`, true);
      return this.load();
    }
    await this.load();
    toast(`${verb} ${p.metadata.name} to module ${short(digest)}`);
  }

  // previous is the module a rollback returns to: the latest in the history
  // that is not the current one (as `skiff policy rollback` chooses).
  previous(p) {
    const h = p.status?.history || [];
    for (let i = h.length - 1; i >= 0; i--) if (h[i].module !== p.spec.module) return h[i].module;
    return '';
  }

  renderTables() {
    const users = new Map();
    for (const p of this.policies) users.set(nameOf(p.spec.module), [...(users.get(nameOf(p.spec.module)) || []), p.metadata.name]);
    keyed(this.$('#pol-modules tbody'), this.modules, (m) => m.metadata.name, () => h('tr', {}, ...Array.from({ length: 5 }, () => h('td'))), (tr, m) => {
      const td = tr.children;
      setText(td[0], short(m.metadata.name));
      td[0].title = digestOf(m.metadata.name);
      setText(td[1], m.spec?.size ? `${(m.spec.size / (1 << 20)).toFixed(1)} MiB` : '');
      setText(td[2], (m.spec?.hooks || []).join(', '));
      setText(td[3], (users.get(m.metadata.name) || []).join(', '));
      setText(td[4], age(m.metadata.creationTimestamp));
    });
    const schedMods = this.modules.filter((m) => (m.spec?.hooks || []).some((x) => x === 'filter' || x === 'score'));
    keyed(this.$('#pol-policies tbody'), this.policies, (p) => p.metadata.name, () => h('tr', {}, ...Array.from({ length: 7 }, () => h('td'))), (tr, p) => {
      const td = tr.children;
      const accepted = condition(p, 'Accepted');
      const loaded = condition(p, 'Loaded');
      setText(td[0], p.metadata.name);
      setText(td[1], short(p.spec.module));
      td[1].title = p.spec.module;
      setText(td[2], p.spec.shadow ? `shadow of ${p.spec.shadowOf || 'default-scheduler'}` : 'scheduler');
      td[3].replaceChildren(...[
        h('span', { class: `badge ${accepted?.status === 'True' ? 'ok' : 'bad'}`, title: accepted?.message || '' }, `Accepted ${accepted?.status || '?'}`), ' ',
        h('span', { class: `badge ${loaded?.status === 'True' ? 'ok' : loaded ? 'bad' : ''}`, title: loaded?.message || '' }, loaded ? `Loaded ${loaded.status}` : 'not loaded yet'),
        loaded?.status === 'False' && loaded.message ? h('div', { class: 'note' }, loaded.message) : null].filter(Boolean));
      const hist = (p.status?.history || []).map((r, i, all) => h('li', { class: r.module === p.spec.module && i === all.length - 1 ? 'current' : '' },
        `v${i + 1} ${short(r.module)} · ${age(r.time)} ago`));
      td[4].replaceChildren(h('ol', { class: 'history' }, hist));
      const sel = h('select', { class: 'switch' }, h('option', { value: '' }, 'switch to…'),
        ...schedMods.filter((m) => digestOf(m.metadata.name) !== p.spec.module).map((m) => h('option', { value: digestOf(m.metadata.name) }, short(m.metadata.name))));
      const prev = this.previous(p);
      td[5].replaceChildren(h('div', { class: 'actions' }, sel,
        h('button', { type: 'button', class: 'small switch', onclick: () => sel.value && this.setModule(p, sel.value, 'Switched') }, 'Switch'),
        h('button', { type: 'button', class: 'small rollback', disabled: !prev, title: prev ? `back to ${short(prev)}` : 'no earlier module',
          onclick: () => this.setModule(p, prev, 'Rolled back') }, 'Roll back')));
      const s = p.status?.shadow;
      td[6].replaceChildren(!p.spec.shadow ? '' : !s ? 'no decisions yet' : h('span', {},
        `${s.agreements}/${s.decisions} agree`, s.disagreements ? `, ${s.disagreements} differ` : '', s.failures ? `, ${s.failures} failed` : '',
        s.lastDisagreement ? h('div', { class: 'note' }, `last: ${s.lastDisagreement.pod} → ${s.lastDisagreement.activeNode} (shadow: ${s.lastDisagreement.shadowNode || 'none'})`) : null));
    });
    setText(this.$('#pol-empty'), this.policies.length ? '' : 'No scheduling policies: upload a module to make one.');
  }

  // renderShadow lists the ShadowPlacement events from the stream: pods a
  // shadow policy would have placed elsewhere.
  renderShadow() {
    const evs = this.store.list('events').filter((e) => e.reason === 'ShadowPlacement')
      .sort((a, b) => Date.parse(b.lastTimestamp || b.eventTime || 0) - Date.parse(a.lastTimestamp || a.eventTime || 0)).slice(0, 50);
    keyed(this.$('#pol-shadow-events tbody'), evs, (e) => e.metadata.uid || `${e.metadata.namespace}/${e.metadata.name}`,
      () => h('tr', {}, h('td'), h('td'), h('td', { class: 'msg' })), (tr, e) => {
        setText(tr.children[0], age(e.lastTimestamp || e.eventTime));
        setText(tr.children[1], `${e.involvedObject?.namespace || e.regarding?.namespace || ''}/${e.involvedObject?.name || e.regarding?.name || ''}`);
        setText(tr.children[2], e.message || e.note || '');
      });
  }

  render() { this.renderShadow(); }
}
