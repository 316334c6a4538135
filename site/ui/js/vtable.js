// vtable.js: a virtualised table: only the rows in view (plus a margin)
// exist in the DOM, so thousands of rows scroll and update smoothly.

import { h } from './dom.js';

const OVERSCAN = 8;

export class VTable {
  // el holds .vscroll > .vbody; fill(row, item) writes one row's cells.
  constructor(el, { cells, fill }) {
    this.scroll = el.querySelector('.vscroll');
    this.body = el.querySelector('.vbody');
    this.cells = cells;
    this.fill = fill;
    this.keys = [];
    this.rows = [];
    this.shape = undefined;
    this.scroll.addEventListener('scroll', () => this.render(this.lookup));
  }

  rowHeight() {
    if (!this.height) {
      const v = getComputedStyle(document.documentElement).getPropertyValue('--row');
      this.height = parseInt(v, 10) || 28;
    }
    return this.height;
  }

  // setKeys recomputes the row order only when the set of keys (shape) or
  // the filter changed; compute returns the ordered keys.
  setKeys(shape, filter, compute) {
    const sig = `${shape}|${filter}`;
    if (sig === this.shape) return;
    this.shape = sig;
    this.keys = compute();
  }

  // render draws the rows in view, reading each item by key through lookup.
  render(lookup) {
    if (!lookup) return;
    this.lookup = lookup;
    const rh = this.rowHeight();
    this.body.style.height = `${this.keys.length * rh}px`;
    const top = this.scroll.scrollTop;
    const view = this.scroll.clientHeight || 420;
    const first = Math.max(0, Math.floor(top / rh) - OVERSCAN);
    const last = Math.min(this.keys.length, Math.ceil((top + view) / rh) + OVERSCAN);
    const need = last - first;
    while (this.rows.length < need) {
      const row = h('div', { class: 'vrow' }, ...Array.from({ length: this.cells }, () => h('span')));
      this.body.append(row);
      this.rows.push(row);
    }
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      const idx = first + i;
      const item = i < need ? lookup(this.keys[idx]) : undefined;
      if (!item) { row.hidden = true; continue; }
      row.hidden = false;
      row.style.top = `${idx * rh}px`;
      row.dataset.key = this.keys[idx];
      this.fill(row, item);
    }
  }
}
