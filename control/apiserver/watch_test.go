package apiserver_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// watchLines opens a watch and returns a scanner over its events.
func watchLines(t *testing.T, client *http.Client, url, token string) *bufio.Scanner {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("watch %s: %d", url, resp.StatusCode)
	}
	return bufio.NewScanner(resp.Body)
}

// TestWatchOverHTTP checks the wire format of watches: JSON WatchEvents,
// Table rows with column definitions first, and a 410 ERROR event past
// compaction that clients can decode by its kind.
func TestWatchOverHTTP(t *testing.T) {
	url, client, token, store := serveStore(t)
	cms := url + "/api/v1/namespaces/default/configmaps"
	for _, name := range []string{"a", "b"} {
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"},"data":{"k":"v"}}`
		if code, resp := do(t, client, "POST", cms, token, "application/json", []byte(body)); code != 201 {
			t.Fatalf("create %s: %d %s", name, code, resp)
		}
	}
	type event struct {
		Type   string
		Object json.RawMessage
	}
	read := func(sc *bufio.Scanner) event {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("watch ended: %v", sc.Err())
		}
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		return ev
	}

	sc := watchLines(t, client, cms+"?watch=true", token)
	for _, want := range []string{`"name":"a"`, `"name":"b"`} {
		if ev := read(sc); ev.Type != "ADDED" || !strings.Contains(string(ev.Object), want) || !strings.Contains(string(ev.Object), `"kind":"ConfigMap"`) {
			t.Errorf("initial event %s %s, want ADDED with %s", ev.Type, ev.Object, want)
		}
	}

	// As a Table, as `kubectl get -w` asks: column definitions come once.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, cms+"?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tsc := bufio.NewScanner(resp.Body)
	var first, second struct {
		Object metav1.Table
	}
	if ev := read(tsc); json.Unmarshal(ev.Object, &first.Object) != nil || first.Object.Kind != "Table" || len(first.Object.ColumnDefinitions) == 0 || len(first.Object.Rows) != 1 {
		t.Errorf("first Table event: %+v", first.Object)
	}
	if ev := read(tsc); json.Unmarshal(ev.Object, &second.Object) != nil || len(second.Object.ColumnDefinitions) != 0 || len(second.Object.Rows) != 1 {
		t.Errorf("second Table event: %+v", second.Object)
	}

	// Past compaction: one ERROR event carrying a 410 Status.
	if _, err := store.Compact(t.Context(), &pb.CompactionRequest{Revision: store.Rev()}); err != nil {
		t.Fatal(err)
	}
	old := watchLines(t, client, cms+"?watch=true&resourceVersion=1", token)
	ev := read(old)
	var st metav1.Status
	if err := json.Unmarshal(ev.Object, &st); err != nil || ev.Type != "ERROR" || st.Kind != "Status" || st.APIVersion != "v1" || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Errorf("watch from a compacted revision: %s %s", ev.Type, ev.Object)
	}
}
