package informer

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/registry"
)

// NewListWatch lists and watches the objects of s in namespace ("" for
// all), with the reflector's context and options passed through.
func NewListWatch(s *registry.Store, namespace string) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return s.List(ctx, namespace, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return s.Watch(ctx, namespace, opts)
		},
	}
}

// namesListWatch lists and watches only the names of the objects of a
// store, as metav1.PartialObjectMetadata. Its watch reads store keys
// (Store.WatchNames) and decodes nothing; its list decodes, but runs only
// when the informer starts or after a failed watch.
type namesListWatch struct {
	*cache.ListWatch
}

// IsWatchListSemanticsUnSupported tells the reflector to list, then watch:
// a names watch cannot send initial events.
func (namesListWatch) IsWatchListSemanticsUnSupported() bool { return true }

// NewNamesListWatch lists and watches the namespace, name and
// resourceVersion of every object of s.
func NewNamesListWatch(s *registry.Store) cache.ListerWatcher {
	return namesListWatch{&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return listNames(ctx, s, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return watchNames(ctx, s, opts)
		},
	}}
}

// nameOf is the part of an object a names informer keeps.
func nameOf(m metav1.Object) metav1.PartialObjectMetadata {
	return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: m.GetNamespace(), Name: m.GetName(), ResourceVersion: m.GetResourceVersion(),
	}}
}

func listNames(ctx context.Context, s *registry.Store, opts metav1.ListOptions) (runtime.Object, error) {
	list, err := s.List(ctx, "", opts)
	if err != nil {
		return nil, err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("informer: list %s: %w", s.Resource().Plural, err))
	}
	out := &metav1.PartialObjectMetadataList{ListMeta: metav1.ListMeta{
		ResourceVersion: lm.GetResourceVersion(), Continue: lm.GetContinue(), RemainingItemCount: lm.GetRemainingItemCount(),
	}}
	err = meta.EachListItem(list, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, nameOf(m))
		return nil
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("informer: list %s: %w", s.Resource().Plural, err))
	}
	return out, nil
}

func watchNames(ctx context.Context, s *registry.Store, opts metav1.ListOptions) (watch.Interface, error) {
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		return nil, apierrors.NewBadRequest("informer: a names watch cannot send initial events")
	}
	if opts.LabelSelector != "" || opts.FieldSelector != "" {
		return nil, apierrors.NewBadRequest("informer: a names watch takes no selectors")
	}
	// A names watch starts after a list, at its revision: "" or "0" (start
	// with the current objects) cannot be served without decoding them.
	rv, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
	if err != nil || rv <= 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("informer: a names watch needs a resourceVersion to start after, not %q", opts.ResourceVersion))
	}
	return s.WatchNames(ctx, rv)
}
