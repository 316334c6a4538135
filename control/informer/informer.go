package informer

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/registry"
)

// Indexers are the indexes of every informer of this package: by namespace
// (cache.NamespaceIndex; "" for cluster-scoped objects).
func Indexers() cache.Indexers {
	return cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
}

// New returns an informer of every object of s, indexed by namespace, with
// the given default resync period (0: none). Its objects are those the
// store returns (s.Resource().New()). Run it with RunWithContext.
func New(s *registry.Store, resync time.Duration) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(NewListWatch(s, ""), s.Resource().New(), cache.SharedIndexInformerOptions{
		ResyncPeriod:      resync,
		Indexers:          Indexers(),
		ObjectDescription: describe(s),
	})
}

// NewNames returns an informer of the namespace, name and resourceVersion
// of every object of s, as *metav1.PartialObjectMetadata, indexed by
// namespace. Its watch never decodes objects.
func NewNames(s *registry.Store, resync time.Duration) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(NewNamesListWatch(s), &metav1.PartialObjectMetadata{}, cache.SharedIndexInformerOptions{
		ResyncPeriod:      resync,
		Indexers:          Indexers(),
		ObjectDescription: describe(s) + " names",
	})
}

func describe(s *registry.Store) string {
	return s.Resource().GroupResource().String()
}
