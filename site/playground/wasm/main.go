//go:build js && wasm

// Command wasm is the playground's Go half in the browser (GOOS=js
// GOARCH=wasm; `make build` writes it to site/ui/wasm/playground.wasm). It
// sets globalThis.skiffPlayground.replay(exports, scenarioJSON): replay the
// scenario's pending pods through the instantiated module whose exports are
// given, with the same records, arena encoding and replay as the server,
// answering the JSON of a playground.Result plus the module's hooks and
// reason texts, or {"error": "..."}.
package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall/js"

	"github.com/skiff-sh/skiff/site/playground"
	"github.com/skiff-sh/skiff/wasm/abi"
)

type answer struct {
	*playground.Result
	Hooks   *playground.Hooks `json:"hooks,omitempty"`
	Info    *abi.Info         `json:"info,omitempty"`
	Version string            `json:"version"`
	Error   string            `json:"error,omitempty"`
}

func replay(exports js.Value, scenario string) answer {
	s, err := playground.DecodeScenario(strings.NewReader(scenario))
	if err != nil {
		return answer{Error: err.Error()}
	}
	g, err := playground.NewGuest(playground.JSMemory{Exports: exports})
	if err != nil {
		return answer{Error: err.Error()}
	}
	res, err := playground.Replay(context.Background(), s, g)
	if err != nil {
		return answer{Error: err.Error()}
	}
	h, info := g.Hooks(), g.Info()
	return answer{Result: res, Hooks: &h, Info: &info}
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("abiVersion", abi.Version)
	api.Set("replay", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 2 {
			return `{"error":"replay(exports, scenarioJSON)"}`
		}
		a := replay(args[0], args[1].String())
		b, err := json.Marshal(a)
		if err != nil {
			return `{"error":"encode the answer"}`
		}
		return string(b)
	}))
	js.Global().Set("skiffPlayground", api)
	if f := js.Global().Get("skiffPlaygroundReady"); f.Type() == js.TypeFunction {
		f.Invoke()
	}
	select {} // keep the functions alive
}
