// Command controller is a test guest for the reconcile convention: it makes sure each object
// owns exactly one ConfigMap named after it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

type meta struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

type ensureOne struct{}

func (ensureOne) Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error) {
	if req.Object == nil {
		return &abi.ReconcileResult{}, nil
	}
	var obj meta
	if err := json.Unmarshal(req.Object, &obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", req.Key, err)
	}
	switch obj.Metadata.Name {
	case "fail":
		return nil, errors.New("asked to fail")
	case "panic":
		panic("controller: boom")
	case "huge":
		return &abi.ReconcileResult{Events: []abi.Event{{Type: "Normal", Reason: "Huge", Message: strings.Repeat("x", 200<<10)}}}, nil
	}
	res := &abi.ReconcileResult{}
	switch {
	case len(req.Owned) == 0:
		cm := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":%q,"name":%q}}`,
			obj.Metadata.Namespace, obj.Metadata.Name+"-owned")
		res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbCreate, Object: json.RawMessage(cm)})
		res.Events = append(res.Events, abi.Event{Type: "Normal", Reason: "Created", Message: "created " + obj.Metadata.Name + "-owned"})
	default:
		for _, o := range req.Owned[1:] {
			res.Actions = append(res.Actions, abi.Action{Verb: abi.VerbDelete, Object: o})
		}
	}
	return res, nil
}

func init() { sdk.RegisterReconciler(ensureOne{}) }

func main() {}
