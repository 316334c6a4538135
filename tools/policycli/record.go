package policycli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/wasm/snapshot"
)

// listPage is how many objects one list request asks for.
const listPage = 500

// Record lists the cluster's nodes and pods through the API (core v1, whatever group client
// is for) and returns them as a snapshot.
func Record(ctx context.Context, client rest.Interface, now time.Time) (*snapshot.Snapshot, error) {
	if client == nil {
		return nil, errors.New("record: no cluster to record from (no kubeconfig?)")
	}
	var nodes []corev1.Node
	if err := listAll(ctx, client, "/api/v1/nodes", func(b []byte) (string, error) {
		var l corev1.NodeList
		err := json.Unmarshal(b, &l)
		nodes = append(nodes, l.Items...)
		return l.Continue, err
	}); err != nil {
		return nil, fmt.Errorf("record: list nodes: %w", err)
	}
	var pods []corev1.Pod
	if err := listAll(ctx, client, "/api/v1/pods", func(b []byte) (string, error) {
		var l corev1.PodList
		err := json.Unmarshal(b, &l)
		pods = append(pods, l.Items...)
		return l.Continue, err
	}); err != nil {
		return nil, fmt.Errorf("record: list pods: %w", err)
	}
	source := ""
	if u := client.Get().AbsPath("/").URL(); u != nil {
		source = u.Host
	}
	return snapshot.FromObjects(nodes, pods, now, source), nil
}

// listAll follows a list's continue tokens; page decodes one page and returns its token.
func listAll(ctx context.Context, client rest.Interface, path string, page func([]byte) (string, error)) error {
	cont := ""
	for {
		req := client.Get().AbsPath(path).Param("limit", fmt.Sprint(listPage))
		if cont != "" {
			req = req.Param("continue", cont)
		}
		b, err := req.DoRaw(ctx)
		if err != nil {
			return err
		}
		if cont, err = page(b); err != nil {
			return err
		}
		if cont == "" {
			return nil
		}
	}
}
