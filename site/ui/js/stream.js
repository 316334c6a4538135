// stream.js: the one multiplexed watch stream (GET stream, NDJSON read
// with fetch so the Authorization header goes along). It reconnects with
// the last resourceVersion of every resource; the server relists what is
// too old (410) and sends a fresh SYNC.

import { token } from './api.js';

const IDLE_MS = 45000; // the server pings every 15 s

export class Stream {
  // onFrames(frames) gets every batch; onState(state, detail) gets
  // 'connecting' | 'live' | 'down'; onAuth(message) ends the stream.
  constructor(store, { onFrames, onState, onAuth }) {
    this.store = store;
    this.onFrames = onFrames;
    this.onState = onState;
    this.onAuth = onAuth;
    this.stopped = true;
    this.connects = 0;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async loop() {
    let wait = 500;
    while (!this.stopped) {
      this.abort = new AbortController();
      this.onState('connecting');
      try {
        const q = this.store.resume();
        this.url = `stream${q ? `?${q}` : ''}`;
        const resp = await fetch(this.url, {
          headers: { Authorization: `Bearer ${token.get()}` },
          signal: this.abort.signal,
          cache: 'no-store',
        });
        if (resp.status === 401 || resp.status === 403) {
          let msg = `${resp.status} ${resp.statusText}`;
          try { msg = `${resp.status} ${(await resp.json()).message}`; } catch { /* keep */ }
          this.stopped = true;
          this.onAuth(msg);
          return;
        }
        if (!resp.ok) throw new Error(`${resp.status} ${(await resp.text()).trim()}`);
        this.connects++;
        this.onState('live');
        wait = 500;
        await this.read(resp.body);
        if (!this.stopped) this.onState('down', 'stream ended');
      } catch (e) {
        if (this.stopped) return;
        this.onState('down', e.message || String(e));
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 10000);
    }
  }

  async read(body) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let idle;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => this.abort.abort(new Error('no data for 45 s')), IDLE_MS);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        buf += dec.decode(value, { stream: true });
        const frames = [];
        let start = 0;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n', start)) {
          if (i > start) frames.push(JSON.parse(buf.slice(start, i)));
          start = i + 1;
        }
        buf = buf.slice(start);
        if (frames.length) this.onFrames(frames);
      }
    } finally {
      clearTimeout(idle);
    }
  }
}
