// wasi.js: the minimal wasi_snapshot_preview1 a policy module gets in the
// browser, granting what wazero grants on the server: nothing. No
// arguments, environment, files or sockets; a fake clock advancing 1 ms per
// reading and a fixed random stream; stdout/stderr into a capped log;
// proc_exit traps.

const ENOSYS = 52, EBADF = 8, ESUCCESS = 0;

export class ProcExit extends Error {
  constructor(code) { super(`module called proc_exit(${code})`); this.code = code; }
}

// wasiImports returns the import object for a module and a log; call
// bind(instance) once instantiated so the functions reach its memory.
export function wasiImports(module, { logLimit = 64 << 10 } = {}) {
  let memory = null;
  let clock = 0n;
  let rand = 0x9e3779b9;
  const log = { text: '', dropped: 0 };
  const dv = () => new DataView(memory.buffer);
  const u8 = () => new Uint8Array(memory.buffer);
  const dec = new TextDecoder();
  const fns = {
    args_sizes_get(argc, size) { dv().setUint32(argc, 0, true); dv().setUint32(size, 0, true); return ESUCCESS; },
    args_get() { return ESUCCESS; },
    environ_sizes_get(n, size) { dv().setUint32(n, 0, true); dv().setUint32(size, 0, true); return ESUCCESS; },
    environ_get() { return ESUCCESS; },
    clock_time_get(_id, _precision, out) { clock += 1000000n; dv().setBigUint64(out, clock, true); return ESUCCESS; },
    clock_res_get(_id, out) { dv().setBigUint64(out, 1000n, true); return ESUCCESS; },
    random_get(buf, len) {
      const b = u8();
      for (let i = 0; i < len; i++) {
        rand ^= rand << 13; rand ^= rand >>> 17; rand ^= rand << 5;
        b[buf + i] = rand & 0xff;
      }
      return ESUCCESS;
    },
    fd_write(fd, iovs, iovsLen, nwritten) {
      if (fd !== 1 && fd !== 2) return EBADF;
      const d = dv();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = d.getUint32(iovs + 8 * i, true);
        const len = d.getUint32(iovs + 8 * i + 4, true);
        const room = logLimit - log.text.length;
        if (room > 0) log.text += dec.decode(u8().subarray(ptr, ptr + Math.min(len, room)));
        if (len > room) log.dropped += len - Math.max(room, 0);
        n += len;
      }
      d.setUint32(nwritten, n, true);
      return ESUCCESS;
    },
    fd_fdstat_get(fd, out) {
      if (fd > 2) return EBADF;
      const b = u8();
      b.fill(0, out, out + 24);
      b[out] = 2; // character device
      return ESUCCESS;
    },
    fd_fdstat_set_flags(fd) { return fd > 2 ? EBADF : ESUCCESS; },
    fd_prestat_get() { return EBADF; }, // no preopened directories
    fd_prestat_dir_name() { return EBADF; },
    fd_close() { return EBADF; },
    // Every subscription fires at once (the clock is fake anyway).
    poll_oneoff(subs, events, n, nevents) {
      const d = dv();
      for (let i = 0; i < n; i++) {
        const s = subs + 48 * i, e = events + 32 * i;
        d.setBigUint64(e, d.getBigUint64(s, true), true);
        d.setUint16(e + 8, 0, true);
        d.setUint8(e + 10, d.getUint8(s + 8));
        for (let k = 11; k < 32; k++) d.setUint8(e + k, 0);
      }
      d.setUint32(nevents, n, true);
      return ESUCCESS;
    },
    sched_yield() { return ESUCCESS; },
    proc_exit(code) { throw new ProcExit(code); },
  };
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== 'wasi_snapshot_preview1') {
      throw new Error(`module imports ${imp.module}.${imp.name}: only wasi_snapshot_preview1 is offered`);
    }
    if (imp.kind !== 'function') throw new Error(`module imports a ${imp.kind} (${imp.name}): refused`);
    imports[imp.name] = fns[imp.name] || (() => ENOSYS);
  }
  return {
    imports: { wasi_snapshot_preview1: imports },
    log,
    bind(instance) { memory = instance.exports.memory; },
  };
}
