package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// apply performs res's actions for the Service k (svc nil: deleted) in order, stopping at the
// first failure, records the events, and makes k wait for the informers to show the writes.
//
// The policy may write only the Endpoints named after the Service (only delete it once the
// Service is gone) and the EndpointSlices labelled as this controller's for the Service:
// those it creates or rewrites must stay so labelled and controlled by the Service.
func (l *endpointsLoop) apply(ctx context.Context, k string, svc *corev1.Service, res *abi.ReconcileResult) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(k)
	var epRev, sliceRev int64
	outcomes := make([]outcome, len(res.Actions))
	var failed error
	for i, a := range res.Actions {
		written, s, rev, err := l.applyOne(ctx, ns, name, svc, a)
		if err != nil {
			outcomes[i].err = err
			failed = fmt.Errorf("action %d (%s %s): %w", i, a.Verb, written, err)
			if svc != nil {
				l.recordFailure(ctx, svc, s, a.Verb, err)
			}
			break
		}
		outcomes[i] = outcome{done: true, name: written}
		switch s {
		case l.endpoints:
			epRev = max(epRev, rev)
		case l.slices:
			sliceRev = max(sliceRev, rev)
		}
	}
	l.expect(k, epRev, sliceRev)
	if svc != nil {
		reportEvents(res, outcomes, func(typ, reason, message string) { l.rec.Record(ctx, svc, typ, reason, message) })
	}
	return failed
}

// recordFailure is the endpoints controllers' warning about a failed write, with their reasons.
func (l *endpointsLoop) recordFailure(ctx context.Context, svc *corev1.Service, s *registry.Store, verb string, err error) {
	switch {
	case s == l.endpoints && verb == abi.VerbCreate:
		l.rec.Record(ctx, svc, corev1.EventTypeWarning, "FailedToCreateEndpoint",
			fmt.Sprintf("Failed to create endpoint for service %s/%s: %v", svc.Namespace, svc.Name, err))
	case s == l.endpoints:
		l.rec.Record(ctx, svc, corev1.EventTypeWarning, "FailedToUpdateEndpoint",
			fmt.Sprintf("Failed to %s endpoint %s/%s: %v", verb, svc.Namespace, svc.Name, err))
	default:
		l.rec.Record(ctx, svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			fmt.Sprintf("Error updating Endpoint Slices for Service %s/%s: %v", svc.Namespace, svc.Name, err))
	}
}

// applyOne performs one action: the name written, the store and the revision it wrote at (0:
// nothing written).
func (l *endpointsLoop) applyOne(ctx context.Context, ns, svcName string, svc *corev1.Service, a abi.Action) (string, *registry.Store, int64, error) {
	var h header
	if err := json.Unmarshal(a.Object, &h); err != nil {
		return "", nil, 0, fmt.Errorf("decode action object: %w", err)
	}
	name := h.Metadata.Name
	var s *registry.Store
	switch schema.FromAPIVersionAndKind(h.APIVersion, h.Kind) {
	case l.endpoints.Resource().Kind:
		s = l.endpoints
	case l.slices.Resource().Kind:
		s = l.slices
	default:
		return name, nil, 0, forbidden("the %s controller may not write %s %s", EndpointsModule, h.APIVersion, h.Kind)
	}
	if h.Metadata.Namespace != "" && h.Metadata.Namespace != ns {
		return name, nil, 0, forbidden("namespace %q is not the service's %q", h.Metadata.Namespace, ns)
	}
	switch {
	case s == l.endpoints && name != svcName:
		return name, nil, 0, forbidden("Endpoints %s is not named after service %s", name, svcName)
	case s == l.endpoints && svc == nil && a.Verb != abi.VerbDelete:
		return name, nil, 0, forbidden("service %s is gone: its Endpoints may only be deleted", svcName)
	case s == l.slices && svc == nil:
		return name, nil, 0, forbidden("service %s is gone: its EndpointSlices go with it", svcName)
	}
	if a.Verb == abi.VerbDelete {
		return l.delete(ctx, ns, svcName, s, h)
	}
	obj := s.Resource().New()
	if err := json.Unmarshal(a.Object, obj); err != nil {
		return name, s, 0, fmt.Errorf("decode %s: %w", h.Kind, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return name, s, 0, err
	}
	m.SetNamespace(ns)
	manager := endpointsComponent
	if s == l.slices {
		manager = slicesComponent
		if err := checkSlice(m, svc); err != nil {
			return name, s, 0, err
		}
		if a.Verb != abi.VerbCreate {
			if err := l.checkSliceTarget(ns, svcName, name); err != nil {
				return name, s, 0, err
			}
		}
	}
	var out runtime.Object
	switch a.Verb {
	case abi.VerbCreate:
		out, err = s.Create(ctx, ns, obj, registry.CreateOptions{FieldManager: manager})
	case abi.VerbUpdate:
		out, _, err = s.Update(ctx, ns, name, func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil },
			registry.UpdateOptions{FieldManager: manager})
	default:
		return name, s, 0, forbidden("the %s controller may not %s", EndpointsModule, a.Verb)
	}
	if err != nil {
		return name, s, 0, err
	}
	om, _ := meta.Accessor(out)
	rev, _ := strconv.ParseInt(om.GetResourceVersion(), 10, 64)
	return om.GetName(), s, rev, nil
}

// checkSlice makes sure a slice written for svc is labelled as this controller's for svc and
// controlled by it.
func checkSlice(m metav1.Object, svc *corev1.Service) error {
	lbl := m.GetLabels()
	if lbl[discoveryv1.LabelServiceName] != svc.Name || lbl[discoveryv1.LabelManagedBy] != slicesManagedBy {
		return forbidden("EndpointSlice %s must carry labels %s=%s and %s=%s", m.GetName(),
			discoveryv1.LabelServiceName, svc.Name, discoveryv1.LabelManagedBy, slicesManagedBy)
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" {
		return forbidden("EndpointSlice %s must be controlled by service %s", m.GetName(), svc.Name)
	}
	return nil
}

// checkSliceTarget allows changing or deleting only slices labelled as this controller's for
// the service.
func (l *endpointsLoop) checkSliceTarget(ns, svcName, name string) error {
	cur, ok, err := l.sliceInf.GetIndexer().GetByKey(key(ns, name))
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewNotFound(l.slices.Resource().GroupResource(), name)
	}
	lbl := object(cur).GetLabels()
	if lbl[discoveryv1.LabelServiceName] != svcName || lbl[discoveryv1.LabelManagedBy] != slicesManagedBy {
		return forbidden("EndpointSlice %s is not managed by %s for service %s", name, slicesManagedBy, svcName)
	}
	return nil
}

// delete deletes the Endpoints or a slice, with the preconditions the policy gave.
func (l *endpointsLoop) delete(ctx context.Context, ns, svcName string, s *registry.Store, h header) (string, *registry.Store, int64, error) {
	name := h.Metadata.Name
	if s == l.slices {
		if err := l.checkSliceTarget(ns, svcName, name); apierrors.IsNotFound(err) {
			return name, s, 0, nil // already gone
		} else if err != nil {
			return name, s, 0, err
		}
	}
	pre := &metav1.Preconditions{}
	if h.Metadata.UID != "" {
		pre.UID = new(types.UID(h.Metadata.UID))
	}
	if h.Metadata.ResourceVersion != "" {
		pre.ResourceVersion = new(h.Metadata.ResourceVersion)
	}
	out, _, err := s.Delete(ctx, ns, name, &metav1.DeleteOptions{Preconditions: pre})
	if apierrors.IsNotFound(err) {
		return name, s, 0, nil
	}
	if err != nil {
		return name, s, 0, err
	}
	rev, _ := strconv.ParseInt(object(out).GetResourceVersion(), 10, 64)
	return name, s, rev, nil
}
