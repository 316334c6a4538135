package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// ErrForbidden marks an action the host refuses to perform for a policy.
var ErrForbidden = errors.New("controllers: action not allowed")

// outcome is what became of one action.
type outcome struct {
	done bool
	name string
	err  error
}

// apply performs res's actions in order, stopping at the first failure, records res's events,
// and makes k wait for the informers to show what was written.
func (l *loop) apply(ctx context.Context, k string, owner runtime.Object, res *abi.ReconcileResult) error {
	om := object(owner)
	var ownerRev, ownedRev int64
	written := map[types.UID]string{}
	outcomes := make([]outcome, len(res.Actions))
	var failed error
	for i, a := range res.Actions {
		name, s, rev, err := l.applyOne(ctx, om, a, written)
		if err != nil {
			outcomes[i].err = err
			failed = fmt.Errorf("action %d (%s %s): %w", i, a.Verb, name, err)
			break
		}
		outcomes[i] = outcome{done: true, name: name}
		switch s {
		case l.owner:
			ownerRev = max(ownerRev, rev)
		case l.owned:
			ownedRev = max(ownedRev, rev)
		}
	}
	l.expect(k, ownerRev, ownedRev)
	reportEvents(res, outcomes, func(typ, reason, message string) { l.record(ctx, owner, typ, reason, message) })
	return failed
}

// reportEvents records res's events given what became of its actions: an event tied to an
// action only once it succeeded, a Warning Failed<Verb> event for a failed one instead.
func reportEvents(res *abi.ReconcileResult, outcomes []outcome, record func(typ, reason, message string)) {
	reported := map[int]bool{}
	for _, ev := range res.Events {
		if ev.Action == nil {
			record(ev.Type, ev.Reason, ev.Message)
			continue
		}
		i := *ev.Action
		if i < 0 || i >= len(outcomes) {
			continue
		}
		switch o := outcomes[i]; {
		case o.done:
			record(ev.Type, ev.Reason, strings.ReplaceAll(ev.Message, "{name}", o.name))
		case o.err != nil && !reported[i]:
			reported[i] = true
			verb := res.Actions[i].Verb
			record("Warning", "Failed"+strings.ToUpper(verb[:1])+verb[1:],
				fmt.Sprintf("Error %s %s: %v", verb, describe(res.Actions[i].Object), o.err))
		}
	}
}

func describe(obj json.RawMessage) string {
	var h header
	_ = json.Unmarshal(obj, &h)
	if h.Metadata.Name == "" {
		return h.Kind
	}
	return h.Kind + " " + h.Metadata.Name
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Namespace       string `json:"namespace"`
		Name            string `json:"name"`
		UID             string `json:"uid"`
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
}

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}

// applyOne performs one action: the name written, the store and the revision it wrote at (0:
// nothing written).
func (l *loop) applyOne(ctx context.Context, owner metav1.Object, a abi.Action, written map[types.UID]string) (string, *registry.Store, int64, error) {
	var h header
	if err := json.Unmarshal(a.Object, &h); err != nil {
		return "", nil, 0, fmt.Errorf("decode action object: %w", err)
	}
	ns := owner.GetNamespace()
	name := h.Metadata.Name
	gvk := schema.FromAPIVersionAndKind(h.APIVersion, h.Kind)
	var s *registry.Store
	switch gvk {
	case l.owner.Resource().Kind:
		s = l.owner
	case l.owned.Resource().Kind:
		s = l.owned
	default:
		return name, nil, 0, forbidden("the %s controller may not write %s", l.module, gvk)
	}
	if h.Metadata.Namespace != "" && h.Metadata.Namespace != ns {
		return name, nil, 0, forbidden("namespace %q is not the owner's %q", h.Metadata.Namespace, ns)
	}
	if a.Verb == abi.VerbDelete {
		return l.delete(ctx, owner, s, h)
	}
	obj := s.Resource().New()
	if err := json.Unmarshal(a.Object, obj); err != nil {
		return name, nil, 0, fmt.Errorf("decode %s: %w", gvk.Kind, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return name, nil, 0, err
	}
	m.SetNamespace(ns)
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.UID != owner.GetUID() && s == l.owned {
		return name, nil, 0, forbidden("%s %s would be controlled by %s, not by %s", gvk.Kind, name, ref.UID, owner.GetUID())
	}
	var out runtime.Object
	switch a.Verb {
	case abi.VerbCreate:
		if s != l.owned || metav1.GetControllerOfNoCopy(m) == nil {
			return name, nil, 0, forbidden("a created %s must be controlled by %s", gvk.Kind, owner.GetName())
		}
		out, err = s.Create(ctx, ns, obj, registry.CreateOptions{FieldManager: l.component})
	case abi.VerbUpdate, abi.VerbUpdateStatus:
		opts := registry.UpdateOptions{FieldManager: l.component}
		if a.Verb == abi.VerbUpdateStatus {
			opts.Subresource = "status"
		}
		if err := l.checkTarget(owner, s, m, a.Verb); err != nil {
			return name, nil, 0, err
		}
		if rv, ok := written[m.GetUID()]; ok && m.GetResourceVersion() != "" {
			// A second write of the same object in one result follows the first.
			m.SetResourceVersion(rv)
		}
		out, _, err = s.Update(ctx, ns, name, func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil }, opts)
	default:
		return name, nil, 0, forbidden("unknown verb %q", a.Verb)
	}
	if err != nil {
		return name, s, 0, err
	}
	om, _ := meta.Accessor(out)
	written[om.GetUID()] = om.GetResourceVersion()
	rev, _ := strconv.ParseInt(om.GetResourceVersion(), 10, 64)
	return om.GetName(), s, rev, nil
}

// checkTarget allows updates of the owner itself, and of objects of the controlled kind that the
// owner controls or that have no controller (adoption).
func (l *loop) checkTarget(owner metav1.Object, s *registry.Store, m metav1.Object, verb string) error {
	if s == l.owner {
		if m.GetName() != owner.GetName() || (m.GetUID() != "" && m.GetUID() != owner.GetUID()) {
			return forbidden("the %s controller may only change the %s it reconciles", l.module, s.Resource().Kind.Kind)
		}
		m.SetUID(owner.GetUID())
		return nil
	}
	if verb == abi.VerbUpdateStatus {
		return forbidden("the %s controller may not write the status of a %s", l.module, s.Resource().Kind.Kind)
	}
	cur, ok, err := l.ownedInf.GetIndexer().GetByKey(key(owner.GetNamespace(), m.GetName()))
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewNotFound(s.Resource().GroupResource(), m.GetName())
	}
	cm := object(cur)
	if m.GetUID() == "" {
		m.SetUID(cm.GetUID())
	}
	if ref := metav1.GetControllerOfNoCopy(cm); ref != nil && ref.UID != owner.GetUID() {
		return forbidden("%s %s is controlled by %s", s.Resource().Kind.Kind, m.GetName(), ref.Name)
	}
	return nil
}

// delete deletes an object the owner controls, with the preconditions the policy gave.
func (l *loop) delete(ctx context.Context, owner metav1.Object, s *registry.Store, h header) (string, *registry.Store, int64, error) {
	name := h.Metadata.Name
	if s != l.owned {
		return name, nil, 0, forbidden("the %s controller may only delete what it controls", l.module)
	}
	cur, ok, err := l.ownedInf.GetIndexer().GetByKey(key(owner.GetNamespace(), name))
	if err != nil {
		return name, nil, 0, err
	}
	if !ok {
		return name, s, 0, nil // already gone
	}
	if ref := metav1.GetControllerOfNoCopy(object(cur)); ref == nil || ref.UID != owner.GetUID() {
		return name, nil, 0, forbidden("%s %s is not controlled by %s", s.Resource().Kind.Kind, name, owner.GetName())
	}
	pre := &metav1.Preconditions{}
	if h.Metadata.UID != "" {
		pre.UID = new(types.UID(h.Metadata.UID))
	}
	if h.Metadata.ResourceVersion != "" {
		pre.ResourceVersion = new(h.Metadata.ResourceVersion)
	}
	out, _, err := s.Delete(ctx, owner.GetNamespace(), name, &metav1.DeleteOptions{Preconditions: pre})
	if apierrors.IsNotFound(err) {
		return name, s, 0, nil
	}
	if err != nil {
		return name, s, 0, err
	}
	rev, _ := strconv.ParseInt(object(out).GetResourceVersion(), 10, 64)
	return name, s, rev, nil
}
