package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/allocator"
)

// serviceAllocator gives services their cluster IPs and node ports.
type serviceAllocator struct {
	ips    *allocator.Range
	ports  *allocator.Range
	logger *slog.Logger
}

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service").GroupKind()

func owner(s *corev1.Service) string { return s.Namespace + "/" + s.Name + "/" + string(s.UID) }

// wantsNodePorts reports whether a service of this type gets node ports.
func wantsNodePorts(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func wantsClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// allocate fills in spec.clusterIP(s), ipFamilies and node ports, claiming
// what the client asked for or taking free ones; on update it keeps what
// the service holds and releases, once written, what it no longer needs.
func (a *serviceAllocator) allocate(ctx context.Context, obj, oldObj runtime.Object) (func(bool), error) {
	svc := obj.(*corev1.Service)
	var old *corev1.Service
	if oldObj != nil {
		old = oldObj.(*corev1.Service)
		svc.UID = old.UID
	}
	id := owner(svc)
	var taken []func(context.Context) // releases of what this call claimed
	fail := func(err error) (func(bool), error) {
		rel := context.WithoutCancel(ctx)
		for _, undo := range taken {
			undo(rel)
		}
		return nil, err
	}
	holds := func(r *allocator.Range, v string) bool { return false }
	if old != nil {
		holds = func(r *allocator.Range, v string) bool {
			if r == a.ips {
				return old.Spec.ClusterIP == v
			}
			for _, p := range old.Spec.Ports {
				if strconv.Itoa(int(p.NodePort)) == v {
					return true
				}
			}
			return false
		}
	}
	claim := func(r *allocator.Range, v string, path *field.Path) error {
		if holds(r, v) {
			return nil
		}
		if err := r.Claim(ctx, v, id); err != nil {
			if errors.Is(err, allocator.ErrAllocated) {
				return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(path, v, "provided "+what(r, a)+" is already allocated")})
			}
			if errors.Is(err, allocator.ErrOutOfRange) {
				return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(path, v, "provided "+what(r, a)+" is not in the valid range")})
			}
			return apierrors.NewInternalError(err)
		}
		taken = append(taken, func(c context.Context) { a.release(c, r, v, id) })
		return nil
	}
	take := func(r *allocator.Range) (string, error) {
		v, err := r.Allocate(ctx, id)
		if err != nil {
			if errors.Is(err, allocator.ErrFull) {
				return "", apierrors.NewInternalError(fmt.Errorf("failed to allocate a %s: range is full", what(r, a)))
			}
			return "", apierrors.NewInternalError(err)
		}
		taken = append(taken, func(c context.Context) { a.release(c, r, v, id) })
		return v, nil
	}

	if wantsClusterIP(svc) {
		path := field.NewPath("spec", "clusterIPs").Index(0)
		if svc.Spec.ClusterIP == "" {
			ip, err := take(a.ips)
			if err != nil {
				return fail(err)
			}
			svc.Spec.ClusterIP = ip
		} else if err := claim(a.ips, svc.Spec.ClusterIP, path); err != nil {
			return fail(err)
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicyRequireDualStack
			if len(svc.Spec.Selector) > 0 {
				p = corev1.IPFamilyPolicySingleStack
			}
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	if wantsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			if p.NodePort == 0 {
				// An update keeps the port the same service port had.
				if old != nil {
					for _, op := range old.Spec.Ports {
						if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
							p.NodePort = op.NodePort
						}
					}
				}
			}
			if p.NodePort == 0 {
				v, err := take(a.ports)
				if err != nil {
					return fail(err)
				}
				n, _ := strconv.Atoi(v)
				p.NodePort = int32(n)
			} else if err := claim(a.ports, strconv.Itoa(int(p.NodePort)), path); err != nil {
				return fail(err)
			}
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	return func(written bool) {
		rel := context.WithoutCancel(ctx)
		if !written {
			for _, undo := range taken {
				undo(rel)
			}
			return
		}
		if old != nil {
			a.releaseUnused(rel, old, svc)
		}
	}, nil
}

func what(r *allocator.Range, a *serviceAllocator) string {
	if r == a.ips {
		return "IP"
	}
	return "port"
}

// releaseUnused frees what old held and now no longer holds.
func (a *serviceAllocator) releaseUnused(ctx context.Context, old, now *corev1.Service) {
	id := owner(old)
	if wantsClusterIP(old) && old.Spec.ClusterIP != now.Spec.ClusterIP {
		a.release(ctx, a.ips, old.Spec.ClusterIP, id)
	}
	kept := map[int32]bool{}
	for _, p := range now.Spec.Ports {
		kept[p.NodePort] = true
	}
	for _, p := range old.Spec.Ports {
		if p.NodePort != 0 && !kept[p.NodePort] {
			a.release(ctx, a.ports, strconv.Itoa(int(p.NodePort)), id)
		}
	}
}

// releaseAll frees everything a deleted service held.
func (a *serviceAllocator) releaseAll(ctx context.Context, obj runtime.Object) {
	svc := obj.(*corev1.Service)
	a.releaseUnused(ctx, svc, &corev1.Service{})
}

func (a *serviceAllocator) release(ctx context.Context, r *allocator.Range, v, id string) {
	if v == "" || v == corev1.ClusterIPNone {
		return
	}
	if err := r.Release(ctx, v, id); err != nil {
		a.logger.Warn("release of a service allocation failed; it stays taken", "value", v, "owner", id, "err", err)
	}
}
