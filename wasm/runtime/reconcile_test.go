package runtime_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime"
)

func TestReconcile(t *testing.T) {
	h := newHost(t, testConfig())
	m := load(t, h, "controller", "controller", runtime.ModuleOptions{})
	obj := func(name string) json.RawMessage {
		return json.RawMessage(`{"apiVersion":"v1","kind":"Thing","metadata":{"namespace":"ns","name":"` + name + `"}}`)
	}
	owned := []json.RawMessage{obj("a-owned"), obj("a-extra1"), obj("a-extra2")}
	tests := []struct {
		name string
		req  abi.ReconcileRequest
		want abi.ReconcileResult
	}{
		{"creates what is missing", abi.ReconcileRequest{Key: "ns/a", Object: obj("a")}, abi.ReconcileResult{
			Actions: []abi.Action{{Verb: abi.VerbCreate, Object: json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"ns","name":"a-owned"}}`)}},
			Events:  []abi.Event{{Type: "Normal", Reason: "Created", Message: "created a-owned"}}}},
		{"deletes extras", abi.ReconcileRequest{Key: "ns/a", Object: obj("a"), Owned: owned}, abi.ReconcileResult{
			Actions: []abi.Action{{Verb: abi.VerbDelete, Object: owned[1]}, {Verb: abi.VerbDelete, Object: owned[2]}}}},
		{"deleted object", abi.ReconcileRequest{Key: "ns/gone"}, abi.ReconcileResult{}},
		{"policy error", abi.ReconcileRequest{Key: "ns/fail", Object: obj("fail")}, abi.ReconcileResult{Error: "asked to fail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Reconcile(t.Context(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(tt.want)
				t.Errorf("got  %s\nwant %s", gj, wj)
			}
		})
	}

	t.Run("output larger than the arena", func(t *testing.T) {
		got, err := m.Reconcile(t.Context(), &abi.ReconcileRequest{Key: "ns/huge", Object: obj("huge")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != 1 || len(got.Events[0].Message) != 200<<10 {
			t.Errorf("want one event with a 200 KiB message, got %d events", len(got.Events))
		}
	})
	t.Run("output over the cap", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxOutput = 64 << 10
		small := load(t, newHost(t, cfg), "controller", "controller", runtime.ModuleOptions{})
		_, err := small.Reconcile(t.Context(), &abi.ReconcileRequest{Key: "ns/huge", Object: obj("huge")})
		if !errors.Is(err, runtime.ErrBadOutput) || !strings.Contains(err.Error(), "cap") {
			t.Errorf("Reconcile = %v, want ErrBadOutput over the output cap", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		_, err := m.Reconcile(t.Context(), &abi.ReconcileRequest{Key: "ns/panic", Object: obj("panic")})
		if !errors.Is(err, runtime.ErrTrap) || !strings.Contains(err.Error(), "controller: boom") {
			t.Errorf("Reconcile = %v, want ErrTrap with the panic message", err)
		}
		if _, err := m.Reconcile(t.Context(), &abi.ReconcileRequest{Key: "ns/a", Object: obj("a")}); err != nil {
			t.Errorf("the next reconcile failed: %v", err)
		}
	})
	t.Run("scheduler has no reconcile hook", func(t *testing.T) {
		sched := load(t, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
		if _, err := sched.Reconcile(t.Context(), &abi.ReconcileRequest{Key: "x"}); !errors.Is(err, runtime.ErrMissingExport) {
			t.Errorf("Reconcile on a scheduler = %v, want ErrMissingExport", err)
		}
	})
}
