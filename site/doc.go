// Package site is Skiff's dashboard, served at /ui by every control server.
//
// The dashboard is plain JavaScript modules and CSS (ui/, embedded, no
// build step). The browser signs in with the admin bearer token, calls the
// Kubernetes API of the server it came from directly (same origin) for
// one-off reads and writes, and keeps its tables live from one multiplexed
// watch stream (/ui/stream, package stream) that this package serves by
// calling the API server's handler in process with the browser's
// credentials. The UI's own paths need no credentials, so the sign-in page
// loads; everything it shows needs the token.
//
// The scheduling playground runs a module in the browser's WebAssembly
// engine with the Go of package playground compiled to js/wasm (ui/wasm,
// written by `make build`); under /ui/api this package serves what it needs
// from the server: the live cluster as a wasm/snapshot document, module
// bytes, and the server's own decisions (wasm/snapshot.Replay in wazero)
// for the same snapshot, so the page can show that the two agree.
package site
