package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Finalizers the garbage collector acts on.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
)

// Delete deletes the named object as Kubernetes does: preconditions (uid,
// resourceVersion) are checked; a propagation policy of Orphan or
// Foreground adds its finalizer; an object with finalizers, or one whose
// owner must confirm (GracePeriod > 0), gets a deletionTimestamp and stays
// until they are done. It answers the object as it is afterwards and
// whether it is gone from the store.
func (s *Store) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	dryRun := slices.Contains(opts.DryRun, metav1.DryRunAll)
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.get(ctx, namespace, name)
		if err != nil {
			return nil, false, err
		}
		out, gone, err := s.deleteOnce(ctx, cur, rev, opts, dryRun)
		if errors.Is(err, errRaced) && attempt < 100 {
			continue
		}
		if errors.Is(err, errRaced) {
			return nil, false, s.conflict(name)
		}
		return out, gone, err
	}
}

func (s *Store) deleteOnce(ctx context.Context, cur runtime.Object, rev int64, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error) {
	m, _ := metaOf(cur)
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != m.GetUID() {
			return nil, false, apierrors.NewConflict(s.res.GroupResource(), m.GetName(),
				fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, m.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != strconv.FormatInt(rev, 10) {
			return nil, false, apierrors.NewConflict(s.res.GroupResource(), m.GetName(),
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %d", *p.ResourceVersion, rev))
		}
	}
	obj := cur.DeepCopyObject()
	m, _ = metaOf(obj)
	changed := false
	policy := opts.PropagationPolicy
	if policy == nil && opts.OrphanDependents != nil {
		p := metav1.DeletePropagationBackground
		if *opts.OrphanDependents {
			p = metav1.DeletePropagationOrphan
		}
		policy = &p
	}
	if policy != nil {
		fins := m.GetFinalizers()
		want, drop := "", ""
		switch *policy {
		case metav1.DeletePropagationOrphan:
			want, drop = FinalizerOrphan, FinalizerForeground
		case metav1.DeletePropagationForeground:
			want, drop = FinalizerForeground, FinalizerOrphan
		case metav1.DeletePropagationBackground:
			drop = FinalizerOrphan
		default:
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Foreground, Background", *policy))
		}
		if i := slices.Index(fins, drop); i >= 0 {
			fins = slices.Delete(fins, i, i+1)
			changed = true
		}
		if want != "" && !slices.Contains(fins, want) {
			fins = append(fins, want)
			changed = true
		}
		m.SetFinalizers(fins)
	}
	grace := int64(0)
	if s.res.GracePeriod != nil {
		grace = s.res.GracePeriod(obj, opts.GracePeriodSeconds)
	}
	now := metav1.NewTime(s.Now().Truncate(time.Second))
	if grace > 0 {
		// Shorten an ongoing graceful deletion, never lengthen it.
		if old := m.GetDeletionGracePeriodSeconds(); old == nil || grace < *old {
			deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			m.SetDeletionTimestamp(&deadline)
			m.SetDeletionGracePeriodSeconds(&grace)
			changed = true
		}
	} else if m.GetDeletionGracePeriodSeconds() != nil && *m.GetDeletionGracePeriodSeconds() != 0 {
		zero := int64(0)
		m.SetDeletionGracePeriodSeconds(&zero)
		changed = true
	}
	if len(m.GetFinalizers()) > 0 || grace > 0 || s.res.finalizing(obj) {
		if m.GetDeletionTimestamp() == nil {
			if s.res.PrepareForDelete != nil {
				s.res.PrepareForDelete(obj)
			}
			m.SetDeletionTimestamp(&now)
			zero := int64(0)
			if m.GetDeletionGracePeriodSeconds() == nil {
				m.SetDeletionGracePeriodSeconds(&zero)
			}
			changed = true
		}
		if !changed || dryRun {
			return obj, false, nil
		}
		out, err := s.writeAt(ctx, obj, rev)
		return out, false, err
	}
	if dryRun {
		return obj, true, nil
	}
	out, err := s.deleteAt(ctx, obj, rev)
	return out, err == nil, err
}
