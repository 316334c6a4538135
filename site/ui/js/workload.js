// workload.js: what kubectl computes about workloads, for the tables and
// the actions: rollout status, revisions, rollback patches, pod status.

export const REVISION = 'deployment.kubernetes.io/revision';
const HASH = 'pod-template-hash';

// Annotations `kubectl rollout undo` keeps from the Deployment rather than
// copying from the ReplicaSet (kubectl's annotationsToSkip).
const SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

// rolloutStatus applies `kubectl rollout status`'s rules for a Deployment.
export function rolloutStatus(d) {
  const name = d.metadata.name;
  const spec = d.spec || {};
  const st = d.status || {};
  const want = spec.replicas ?? 1;
  const updated = st.updatedReplicas || 0;
  const replicas = st.replicas || 0;
  const available = st.availableReplicas || 0;
  const base = { want, updated, available, done: false, failed: false };
  if ((d.metadata.generation || 0) > (st.observedGeneration || 0)) {
    return { ...base, message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = (st.conditions || []).find((c) => c.type === 'Progressing');
  if (progressing && progressing.reason === 'ProgressDeadlineExceeded') {
    return { ...base, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
  }
  if (updated < want) {
    return { ...base, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  }
  if (replicas > updated) {
    return { ...base, message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...` };
  }
  if (available < updated) {
    return { ...base, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  }
  return { ...base, done: true, message: `deployment "${name}" successfully rolled out` };
}

// controllerOf returns the uid of obj's controlling owner, if any.
export function controllerOf(obj) {
  const ref = (obj.metadata.ownerReferences || []).find((o) => o.controller);
  return ref ? ref.uid : '';
}

export function revisionOf(obj) {
  const v = parseInt(obj.metadata.annotations?.[REVISION] || '', 10);
  return Number.isNaN(v) ? 0 : v;
}

export function images(template) {
  return (template?.spec?.containers || []).map((c) => c.image).join(', ');
}

// revisions lists a Deployment's ReplicaSets by revision, newest first.
export function revisions(d, replicasets) {
  return replicasets
    .filter((rs) => rs.metadata.namespace === d.metadata.namespace && controllerOf(rs) === d.metadata.uid)
    .map((rs) => ({ revision: revisionOf(rs), rs, images: images(rs.spec.template) }))
    .filter((r) => r.revision > 0)
    .sort((a, b) => b.revision - a.revision);
}

function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

export function withoutHash(template) {
  const t = structuredClone(template || {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[HASH];
  }
  return t;
}

// rollback returns what `kubectl rollout undo --to-revision` sends for
// reverting d to rs: { patch } (a JSON patch), or { skip } or { error } with
// kubectl's message.
export function rollback(d, rs) {
  const rev = revisionOf(rs);
  if (d.spec?.paused) {
    return { error: "you cannot rollback a paused deployment; resume it first and try again" };
  }
  const template = withoutHash(rs.spec.template);
  if (JSON.stringify(canonical(template)) === JSON.stringify(canonical(withoutHash(d.spec.template)))) {
    return { skip: `skipped rollback (current template already matches revision ${rev})` };
  }
  const annotations = {};
  for (const [k, v] of Object.entries(d.metadata.annotations || {})) if (SKIP.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(rs.metadata.annotations || {})) if (!SKIP.has(k)) annotations[k] = v;
  return {
    patch: [
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: annotations },
    ],
  };
}

// restartPatch is `kubectl rollout restart`'s patch.
export function restartPatch(now = new Date()) {
  const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } };
}

// podStatus is the STATUS column of `kubectl get pods`, simplified.
export function podStatus(p) {
  let reason = p.status?.reason || p.status?.phase || 'Unknown';
  for (const c of p.status?.initContainerStatuses || []) {
    if (c.state?.terminated && c.state.terminated.exitCode !== 0) { reason = `Init:${c.state.terminated.reason || 'Error'}`; break; }
    if (c.state?.waiting && c.state.waiting.reason && c.state.waiting.reason !== 'PodInitializing') { reason = `Init:${c.state.waiting.reason}`; break; }
  }
  for (const c of p.status?.containerStatuses || []) {
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
  }
  if (p.metadata.deletionTimestamp) reason = 'Terminating';
  return reason;
}

export function podReady(p) {
  const cs = p.status?.containerStatuses || [];
  const total = (p.spec?.containers || []).length;
  return `${cs.filter((c) => c.ready).length}/${total}`;
}

export function podRestarts(p) {
  return (p.status?.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

// age is kubectl's short duration since an RFC 3339 time.
export function age(ts, now = Date.now()) {
  if (!ts) return '';
  let s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  s = Math.floor(h / 24);
  return `${s}d`;
}
