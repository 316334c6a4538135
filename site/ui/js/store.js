// store.js: the objects the stream delivers, per resource, keyed by
// namespace/name, with the last resourceVersion of each resource.

export function keyOf(obj) {
  const m = obj.metadata || {};
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

export class Store {
  constructor() {
    this.maps = new Map();   // resource -> Map(key -> object)
    this.rv = {};            // resource -> last resourceVersion seen
    this.synced = new Set(); // resources listed at least once
    this.shape = {};         // resource -> counter bumped when keys are added or removed
    this.errors = {};        // resource -> last ERROR message
    this.pending = {};       // resource -> relist being received (Map)
    this.listedAt = {};      // resource -> when its first list was complete (ms since page start)
  }

  map(resource) {
    let m = this.maps.get(resource);
    if (!m) { m = new Map(); this.maps.set(resource, m); }
    return m;
  }

  list(resource) { return [...this.map(resource).values()]; }

  listed(resource) {
    this.listedAt[resource] ??= performance.now();
    this.synced.add(resource);
    delete this.errors[resource];
  }

  bump(resource) { this.shape[resource] = (this.shape[resource] || 0) + 1; }

  // apply folds one frame in; it returns the resource it touched, if any.
  apply(f) {
    const r = f.resource;
    switch (f.type) {
      case 'SYNC': {
        // The first page of a list. A first list fills the table page by
        // page; a relist is kept aside until its last page, so the table
        // never shows half a list.
        const m = new Map();
        for (const o of f.items || []) m.set(keyOf(o), o);
        if (f.more && this.synced.has(r)) {
          this.pending[r] = m;
          return r;
        }
        delete this.pending[r];
        this.maps.set(r, m);
        this.bump(r);
        if (!f.more) this.listed(r);
        break;
      }
      case 'ITEMS': {
        const m = this.pending[r] || this.map(r);
        for (const o of f.items || []) m.set(keyOf(o), o);
        if (!f.more) {
          if (this.pending[r]) this.maps.set(r, this.pending[r]);
          delete this.pending[r];
          this.listed(r);
        }
        this.bump(r);
        break;
      }
      case 'ADDED':
      case 'MODIFIED': {
        const m = this.map(r);
        const k = keyOf(f.object);
        if (!m.has(k)) this.bump(r);
        m.set(k, f.object);
        break;
      }
      case 'DELETED':
        this.map(r).delete(keyOf(f.object));
        this.bump(r);
        break;
      case 'ERROR':
        this.errors[r] = f.message;
        return r;
      default:
        break; // BOOKMARK, PING
    }
    if (r && f.resourceVersion) this.rv[r] = f.resourceVersion;
    return r;
  }

  // resume is the query that resumes every resource where it stopped.
  resume() { return new URLSearchParams(this.rv).toString(); }
}
