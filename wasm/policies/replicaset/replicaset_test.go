package replicaset_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/internal/kobj"
	"github.com/skiff-sh/skiff/wasm/policies/replicaset"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rsDoc(replicas, minReady int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web","namespace":"default","uid":"rs-uid","resourceVersion":"5","generation":2},
	"spec":{"replicas":%d,"minReadySeconds":%d,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}},
	"status":{"replicas":0}}`, replicas, minReady))
}

// pod is a pod of the ReplicaSet; readyAgo < 0 means not ready; node "" means unscheduled.
func pod(name, node string, created time.Time, readyAgo time.Duration, owned bool) json.RawMessage {
	owner := ""
	if owned {
		owner = `,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"rs-uid","controller":true}]`
	}
	status := `{"phase":"Pending"}`
	if readyAgo >= 0 {
		status = fmt.Sprintf(`{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q}]}`, kobj.FormatTime(t0.Add(-readyAgo)))
	}
	return json.RawMessage(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":"default","uid":%q,"labels":{"app":"web"},"creationTimestamp":%q%s},"spec":{"nodeName":%q},"status":%s}`,
		name, name+"-uid", kobj.FormatTime(created), owner, node, status))
}

type summary struct {
	creates int
	deletes []string
	adopts  []string
	status  *kobj.ReplicaSetStatus
}

func run(t *testing.T, req *abi.ReconcileRequest) (summary, *abi.ReconcileResult) {
	t.Helper()
	req.NowMillis = t0.UnixMilli()
	res, err := replicaset.Policy{}.Reconcile(req)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	for _, a := range res.Actions {
		var h struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, GenerateName string
				OwnerReferences    []kobj.OwnerReference
			} `json:"metadata"`
			Status *kobj.ReplicaSetStatus `json:"status"`
		}
		if err := json.Unmarshal(a.Object, &h); err != nil {
			t.Fatal(err)
		}
		switch {
		case a.Verb == abi.VerbCreate:
			s.creates++
			if h.Metadata.GenerateName != "web-" || len(h.Metadata.OwnerReferences) != 1 || h.Metadata.OwnerReferences[0].UID != "rs-uid" {
				t.Errorf("created pod %s", a.Object)
			}
		case a.Verb == abi.VerbDelete:
			s.deletes = append(s.deletes, h.Metadata.Name)
		case a.Verb == abi.VerbUpdate && h.Kind == "Pod":
			s.adopts = append(s.adopts, h.Metadata.Name)
		case a.Verb == abi.VerbUpdateStatus:
			s.status = h.Status
		}
	}
	return s, res
}

func TestReconcile(t *testing.T) {
	old, mid, young := t0.Add(-time.Hour), t0.Add(-time.Minute), t0.Add(-time.Second)
	tests := []struct {
		name        string
		rs          json.RawMessage
		owned       []json.RawMessage
		orphans     []json.RawMessage
		creates     int
		deletes     []string
		adopts      []string
		available   int32
		requeueSoon bool
	}{
		{name: "creates what is missing", rs: rsDoc(3, 0), owned: []json.RawMessage{pod("a", "n1", old, time.Hour, true)}, creates: 2, available: 1},
		{name: "deletes unscheduled, then pending, then not ready, then newest",
			rs: rsDoc(1, 0),
			owned: []json.RawMessage{
				pod("ready-old", "n1", old, time.Hour, true), pod("ready-new", "n1", mid, time.Minute, true),
				pod("pending", "n3", old, -1, true), pod("unscheduled", "", old, -1, true),
			},
			deletes: []string{"unscheduled", "pending", "ready-new"}, available: 1},
		{name: "adopts matching orphans", rs: rsDoc(2, 0), owned: []json.RawMessage{pod("a", "n1", old, time.Hour, true)},
			orphans: []json.RawMessage{pod("orphan", "n1", old, time.Hour, false)}, adopts: []string{"orphan"}, available: 2},
		{name: "minReadySeconds", rs: rsDoc(2, 10), owned: []json.RawMessage{pod("a", "n1", old, time.Hour, true), pod("b", "n1", young, time.Second, true)},
			available: 1, requeueSoon: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := run(t, &abi.ReconcileRequest{Key: "default/web", Object: tt.rs, Owned: tt.owned, Orphans: tt.orphans})
			if got.creates != tt.creates || fmt.Sprint(got.deletes) != fmt.Sprint(tt.deletes) || fmt.Sprint(got.adopts) != fmt.Sprint(tt.adopts) {
				t.Errorf("creates %d deletes %v adopts %v, want %d %v %v", got.creates, got.deletes, got.adopts, tt.creates, tt.deletes, tt.adopts)
			}
			if got.status == nil || got.status.AvailableReplicas != tt.available || got.status.ObservedGeneration != 2 {
				t.Errorf("status %+v, want %d available at generation 2", got.status, tt.available)
			}
			if soon := res.RequeueAfterMillis > 0 && res.RequeueAfterMillis <= 10_000; soon != tt.requeueSoon {
				t.Errorf("requeue after %dms, want soon=%v", res.RequeueAfterMillis, tt.requeueSoon)
			}
		})
	}
}
