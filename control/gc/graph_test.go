package gc

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/registry"
)

// recorder collects what the graph asks the workers to look at.
type recorder struct{ deletes, orphans []types.UID }

func (r *recorder) reset() { r.deletes, r.orphans = nil, nil }

func obj(name string, uid types.UID, owners ...types.UID) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid}}
	for _, o := range owners {
		cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: string(o), UID: o, BlockOwnerDeletion: new(true),
		})
	}
	return cm
}

func TestGraphTransitions(t *testing.T) {
	s := registry.NewStore(nil, &registry.Resource{Plural: "configmaps", Namespaced: true})
	other := registry.NewStore(nil, &registry.Resource{Plural: "secrets", Namespaced: true})
	rec := &recorder{}
	g := newGraph(func(u types.UID) { rec.deletes = append(rec.deletes, u) }, func(u types.UID) { rec.orphans = append(rec.orphans, u) })
	now := metav1.Now()

	steps := []struct {
		name        string
		do          func()
		wantDeletes []types.UID
		wantOrphans []types.UID
		wantNodes   int
	}{
		{"dependent before its owner is known", func() { g.observe(s, obj("dep", "dep", "own")) }, []types.UID{"dep"}, nil, 2},
		{"owner shows up", func() { g.observe(s, obj("own", "own")) }, nil, nil, 2},
		{"owner deleted in the foreground", func() {
			o := obj("own", "own")
			o.DeletionTimestamp, o.Finalizers = &now, []string{registry.FinalizerForeground}
			g.observe(s, o)
		}, []types.UID{"dep", "own"}, nil, 2},
		{"same state again asks nothing", func() {
			o := obj("own", "own")
			o.DeletionTimestamp, o.Finalizers = &now, []string{registry.FinalizerForeground}
			g.observe(s, o)
		}, nil, nil, 2},
		{"dependent goes: its waiting owner is looked at", func() { g.forget("dep") }, []types.UID{"own"}, nil, 1},
		{"orphaning owner", func() {
			o := obj("own", "own")
			o.DeletionTimestamp, o.Finalizers = &now, []string{registry.FinalizerOrphan}
			g.observe(s, o)
		}, nil, []types.UID{"own"}, 1},
		{"a second store's objects", func() { g.handler(other).OnAdd(obj("sec", "sec", "own"), false) }, nil, nil, 2},
		{"relist of the first store without the owner", func() {
			g.handler(s).OnDelete(cache.DeletedFinalStateUnknown{Key: "default/own", Obj: obj("own", "own")})
		}, []types.UID{"sec"}, nil, 2},
		{"relist of the second store: recreated under its name", func() {
			g.handler(other).OnUpdate(obj("sec", "sec", "own"), obj("sec", "sec2"))
		}, nil, nil, 1},
		{"recreated object deleted", func() { g.handler(other).OnDelete(obj("sec", "sec2")) }, nil, nil, 0},
		{"object without uid is ignored", func() { g.handler(s).OnAdd(obj("x", ""), false) }, nil, nil, 0},
	}
	for _, st := range steps {
		rec.reset()
		st.do()
		if !slices.Equal(rec.deletes, st.wantDeletes) {
			t.Errorf("%s: attemptToDelete %v, want %v", st.name, rec.deletes, st.wantDeletes)
		}
		if !slices.Equal(rec.orphans, st.wantOrphans) {
			t.Errorf("%s: attemptToOrphan %v, want %v", st.name, rec.orphans, st.wantOrphans)
		}
		if n := g.size(); n != st.wantNodes {
			t.Errorf("%s: %d nodes, want %d", st.name, n, st.wantNodes)
		}
	}
}
