// Package snapshot records a cluster's scheduling state (nodes, the pods bound to them, the pods
// waiting for a node) as a JSON document, and replays the waiting pods through two scheduling
// policies to compare their decisions. It is what `skiff policy test` runs: a module in wazero
// against the same policy's source compiled natively, or against the built-in default scheduler.
//
// A replay turns objects into ABI inputs the way the scheduler host (control/scheduler) does:
// the same requests (containers, init containers, overhead), node records (allocatable, Ready,
// unschedulable, labels, taints, images), and per node the count of pods sharing the pod's
// controlling owner. Unlike the host it offers every node to every decision (no
// percentageOfNodesToScore sampling) and breaks ties between best-scored nodes by node order
// instead of at random, so a replay is deterministic.
package snapshot

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Version is the snapshot format this package writes and reads.
const Version = 1

// Snapshot is a recorded cluster state. Nodes are offered to each decision in their order here;
// Pending pods are replayed in their order here.
type Snapshot struct {
	Version    int       `json:"version"`
	RecordedAt time.Time `json:"recordedAt,omitzero"`
	// Source says where the snapshot came from (an API server's address, "test", ...).
	Source string        `json:"source,omitempty"`
	Nodes  []corev1.Node `json:"nodes"`
	// Bound are pods on nodes: their requests count against their nodes.
	Bound []corev1.Pod `json:"bound,omitempty"`
	// Pending are pods waiting for a node, to be replayed.
	Pending []corev1.Pod `json:"pending,omitempty"`
}

// lastApplied is kubectl's annotation holding a whole copy of the object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// FromObjects builds a snapshot from the cluster's nodes and pods as listed from the API: nodes
// sorted by name, pods bound to a node (and not terminated) as Bound, pods without a node (and
// neither terminated nor being deleted) as Pending in the order a scheduling queue takes them
// (higher priority first, then older first). Managed fields, kubectl's last-applied annotation
// and pod status other than the phase are dropped.
func FromObjects(nodes []corev1.Node, pods []corev1.Pod, now time.Time, source string) *Snapshot {
	s := &Snapshot{Version: Version, RecordedAt: now.UTC().Truncate(time.Second), Source: source, Nodes: []corev1.Node{}}
	for _, n := range nodes {
		n := *n.DeepCopy()
		n.ManagedFields = nil
		delete(n.Annotations, lastApplied)
		s.Nodes = append(s.Nodes, n)
	}
	slices.SortFunc(s.Nodes, func(a, b corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		p := *p.DeepCopy()
		p.ManagedFields = nil
		delete(p.Annotations, lastApplied)
		p.Status = corev1.PodStatus{Phase: p.Status.Phase}
		switch {
		case p.Spec.NodeName != "":
			s.Bound = append(s.Bound, p)
		case p.DeletionTimestamp == nil:
			s.Pending = append(s.Pending, p)
		}
	}
	slices.SortFunc(s.Bound, func(a, b corev1.Pod) int { return cmp.Compare(podKey(&a), podKey(&b)) })
	slices.SortFunc(s.Pending, queueOrder)
	return s
}

// queueOrder is kube-scheduler's default queue sort (PrioritySort): priority, then age; then
// the key, for a stable order.
func queueOrder(a, b corev1.Pod) int {
	if c := cmp.Compare(priority(&b), priority(&a)); c != 0 {
		return c
	}
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(podKey(&a), podKey(&b))
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func podKey(p *corev1.Pod) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// Validate reports what makes the snapshot unusable: another version, no nodes, a bound pod
// without a node or a pending pod with one, duplicate node names.
func (s *Snapshot) Validate() error {
	var errs []error
	if s.Version != Version {
		errs = append(errs, fmt.Errorf("snapshot: version %d, want %d", s.Version, Version))
	}
	if len(s.Nodes) == 0 {
		errs = append(errs, errors.New("snapshot: no nodes"))
	}
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		if n.Name == "" {
			errs = append(errs, fmt.Errorf("snapshot: nodes[%d] has no name", i))
		} else if seen[n.Name] {
			errs = append(errs, fmt.Errorf("snapshot: node %q appears twice", n.Name))
		}
		seen[n.Name] = true
	}
	for i, p := range s.Bound {
		if p.Spec.NodeName == "" {
			errs = append(errs, fmt.Errorf("snapshot: bound[%d] (%s) has no spec.nodeName", i, podKey(&p)))
		}
	}
	for i, p := range s.Pending {
		if p.Spec.NodeName != "" {
			errs = append(errs, fmt.Errorf("snapshot: pending[%d] (%s) already has spec.nodeName %q", i, podKey(&p), p.Spec.NodeName))
		}
	}
	return errors.Join(errs...)
}

// Decode reads and validates a snapshot.
func Decode(r io.Reader) (*Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("snapshot: decode: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// ReadFile reads and validates the snapshot in path.
func ReadFile(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	s, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Encode writes s as indented JSON.
func (s *Snapshot) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("snapshot: encode: %w", err)
	}
	return nil
}

// WriteFile writes s to path, replacing it whole (through a temporary file beside it).
func (s *Snapshot) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*.json")
	if err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := s.Encode(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	return nil
}
