// quantity.js: Kubernetes resource quantities as numbers (CPU in cores,
// memory in bytes) and back as short text.

const SUFFIX = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function parseQuantity(q) {
  if (q === undefined || q === null || q === '') return 0;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(String(q).trim());
  if (!m || !(m[2] in SUFFIX)) return 0;
  return parseFloat(m[1]) * SUFFIX[m[2]];
}

export function formatCPU(cores) {
  if (cores === 0) return '0';
  if (cores < 1) return `${Math.round(cores * 1000)}m`;
  return `${+cores.toFixed(2)}`;
}

export function formatBytes(b) {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${+b.toFixed(b >= 10 || i === 0 ? 0 : 1)}${units[i]}`;
}

// podRequests sums a pod's container requests as the scheduler does: the
// sum over containers, at least the largest init container's.
export function podRequests(pod) {
  const sum = { cpu: 0, memory: 0 };
  for (const c of pod.spec?.containers || []) {
    sum.cpu += parseQuantity(c.resources?.requests?.cpu);
    sum.memory += parseQuantity(c.resources?.requests?.memory);
  }
  for (const c of pod.spec?.initContainers || []) {
    sum.cpu = Math.max(sum.cpu, parseQuantity(c.resources?.requests?.cpu));
    sum.memory = Math.max(sum.memory, parseQuantity(c.resources?.requests?.memory));
  }
  return sum;
}
