package gc

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/registry"
)

// handler feeds the graph with the events of the informer of store s. The
// informer lists again after a failed watch (410 Gone past compaction
// included) and reports the difference: objects gone meanwhile come as
// cache.DeletedFinalStateUnknown, and one deleted and recreated under its
// name as an update whose UID changed.
func (g *graph) handler(s *registry.Store) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if m, err := meta.Accessor(obj); err == nil {
				g.observe(s, m)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			m, err := meta.Accessor(newObj)
			if err != nil {
				return
			}
			if old, err := meta.Accessor(oldObj); err == nil && old.GetUID() != m.GetUID() {
				g.forget(old.GetUID())
			}
			g.observe(s, m)
		},
		DeleteFunc: func(obj any) {
			if m := deleted(obj); m != nil {
				g.forget(m.GetUID())
			}
		},
	}
}

// deleted is the object of a delete event, tombstone or not.
func deleted(obj any) metav1.Object {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}
