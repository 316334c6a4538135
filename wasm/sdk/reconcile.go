package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/wasm/abi"
)

// reconcileJSON runs r over a JSON request and returns the JSON output and the hook's status.
func reconcileJSON(r Reconciler, in []byte) ([]byte, abi.Status) {
	var req abi.ReconcileRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return []byte(fmt.Sprintf("decode reconcile request: %v", err)), abi.StatusBadRequest
	}
	res := &abi.ReconcileResult{}
	if !req.DryRun {
		var err error
		res, err = r.Reconcile(&req)
		if err != nil {
			res = &abi.ReconcileResult{Error: err.Error()}
		} else if res == nil {
			res = &abi.ReconcileResult{}
		}
	}
	out, err := json.Marshal(res)
	if err != nil {
		return []byte(fmt.Sprintf("encode reconcile result: %v", err)), abi.StatusFailed
	}
	return out, abi.StatusOK
}
