//go:build js && wasm

package playground

import (
	"errors"
	"fmt"
	"syscall/js"
)

// JSMemory is a Memory over a WebAssembly instance's exports in the
// browser (instance.exports): calls go through the browser's engine, a trap
// (a thrown exception) becomes an error.
type JSMemory struct{ Exports js.Value }

// Has reports whether the export is a function.
func (m JSMemory) Has(export string) bool {
	return m.Exports.Get(export).Type() == js.TypeFunction
}

// Call calls an export with i32 arguments.
func (m JSMemory) Call(export string, args ...uint32) (res int32, err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(js.Error); ok {
				err = errors.New(e.Value.Call("toString").String())
				return
			}
			err = fmt.Errorf("%v", v)
		}
	}()
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = int32(x)
	}
	v := m.Exports.Call(export, a...)
	if v.Type() != js.TypeNumber {
		return 0, fmt.Errorf("%s returned %s, want an i32", export, v.Type())
	}
	return int32(v.Int()), nil
}

// view is a Uint8Array over guest memory; the memory's buffer is read anew
// on each access because a guest growing its memory replaces it.
func (m JSMemory) view(off uint32, n int) (js.Value, error) {
	buf := m.Exports.Get("memory").Get("buffer")
	if uint64(off)+uint64(n) > uint64(buf.Get("byteLength").Int()) {
		return js.Value{}, fmt.Errorf("%d bytes at %#x are outside guest memory", n, off)
	}
	return js.Global().Get("Uint8Array").New(buf, off, n), nil
}

// Read copies guest memory at off into dst.
func (m JSMemory) Read(off uint32, dst []byte) error {
	v, err := m.view(off, len(dst))
	if err != nil {
		return err
	}
	js.CopyBytesToGo(dst, v)
	return nil
}

// Write copies src into guest memory at off.
func (m JSMemory) Write(off uint32, src []byte) error {
	v, err := m.view(off, len(src))
	if err != nil {
		return err
	}
	js.CopyBytesToJS(v, src)
	return nil
}
