// dom.js: small DOM helpers (no framework).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && k !== 'list') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// setText changes a node's text only when it differs (no layout churn).
export function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

// keyed renders items into parent as one child per key, reusing the child
// of a key across renders so inputs keep their focus and value:
// create(item) makes it, update(el, item) refreshes it.
export function keyed(parent, items, keyFn, create, update) {
  const rows = parent._rows || (parent._rows = new Map());
  const seen = new Set();
  let prev = null;
  for (const it of items) {
    const k = keyFn(it);
    seen.add(k);
    let el = rows.get(k);
    if (!el) {
      el = create(it);
      el.dataset.key = k;
      rows.set(k, el);
    }
    update(el, it);
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (want !== el) parent.insertBefore(el, want);
    prev = el;
  }
  for (const [k, el] of rows) {
    if (!seen.has(k)) { el.remove(); rows.delete(k); }
  }
}

// bar is a small horizontal gauge; frac over 1 shows as overcommitted.
export function bar(frac, cls = '') {
  const i = h('i', { class: `${cls} ${frac > 1 ? 'over' : ''}` });
  i.style.width = `${Math.min(1, Math.max(0, frac)) * 100}%`;
  return h('span', { class: 'bar' }, i);
}

let toastTimer;
// toast shows a short message in the corner (errors stay until replaced).
export function toast(msg, error = false) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.classList.toggle('error', error);
  el.hidden = false;
  clearTimeout(toastTimer);
  if (!error) toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}
