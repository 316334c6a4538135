package apiserver

import (
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/api/scheme"
	"github.com/skiff-sh/skiff/control/registry"
)

// serveSubresource serves /status, /scale, /binding and /finalize (pods/log
// is podlogs.go's).
func (h *rest) serveSubresource(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) {
	res := s.Resource()
	gr := res.GroupResource()
	var err error
	switch sub := info.Subresource; {
	case sub == "status" && res.Status:
		switch info.Verb {
		case "get":
			err = h.get(w, r, s, info, out)
		case "update":
			err = h.update(w, r, s, info, out, "status")
		case "patch":
			err = h.patch(w, r, s, info, out, "status")
		default:
			err = apierrors.NewMethodNotSupported(gr, info.Verb+" on status")
		}
	case sub == "scale" && (res.Kind.Kind == "Deployment" || res.Kind.Kind == "ReplicaSet"):
		err = h.scale(w, r, s, info, out)
	case sub == "binding" && res.Kind.Kind == "Pod" && info.Verb == "create":
		err = h.bind(w, r, s, info, out)
	case sub == "finalize" && res.Kind.Kind == "Namespace" && info.Verb == "update":
		err = h.finalizeNamespace(w, r, s, info, out)
	default:
		err = apierrors.NewNotFound(gr, info.Name+"/"+info.Subresource)
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// scalable is what the scale subresource reads and writes of a workload.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	var om metav1.ObjectMeta
	var spec, status int32
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		om, sel, status = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
	case *appsv1.ReplicaSet:
		om, sel, status = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
	default:
		return nil, apierrors.NewInternalError(fmt.Errorf("scale: %T is not scalable", obj))
	}
	selector := ""
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		selector = s.String()
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: om.Name, Namespace: om.Namespace, UID: om.UID,
			ResourceVersion: om.ResourceVersion, CreationTimestamp: om.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	}
}

// scale serves the autoscaling/v1 Scale of a deployment or replica set.
func (h *rest) scale(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	scaleKind := scheme.AutoscalingV1.WithKind("Scale")
	newScale := func() runtime.Object { return &autoscalingv1.Scale{} }
	var next func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
	switch info.Verb {
	case "get":
		obj, err := s.Get(r.Context(), info.Namespace, info.Name)
		if err != nil {
			return err
		}
		sc, err := scaleOf(obj)
		if err != nil {
			return err
		}
		writeObject(w, r, http.StatusOK, sc, out)
		return nil
	case "update":
		wr, err := readWrite(r, scaleKind, newScale())
		if err != nil {
			return err
		}
		next = func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) { return wr.obj.(*autoscalingv1.Scale), nil }
	case "patch":
		p, err := newPatcher(r, scaleKind, newScale)
		if err != nil {
			return err
		}
		next = func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			obj, err := p.apply(cur)
			if err != nil {
				return nil, err
			}
			return obj.(*autoscalingv1.Scale), nil
		}
	default:
		return apierrors.NewMethodNotSupported(s.Resource().GroupResource(), info.Verb+" on scale")
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	manager, err := fieldManagerName(r)
	if err != nil {
		return err
	}
	updated, _, err := s.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(s.Resource().GroupResource(), info.Name)
		}
		curScale, err := scaleOf(cur)
		if err != nil {
			return nil, err
		}
		want, err := next(curScale)
		if err != nil {
			return nil, err
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleKind.GroupKind(), info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if want.Name != "" && want.Name != info.Name {
			return nil, apierrors.NewBadRequest("the name of the Scale does not match the name on the URL")
		}
		obj := cur.DeepCopyObject()
		setReplicas(obj, want.Spec.Replicas)
		m := obj.(metav1.Object)
		m.SetResourceVersion(want.ResourceVersion)
		return obj, nil
	}, registry.UpdateOptions{DryRun: dry, FieldManager: manager})
	if err != nil {
		return err
	}
	sc, err := scaleOf(updated)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, sc, out)
	return nil
}

// bind assigns a pod to a node (pods/binding), as the scheduler does: only
// a pod without a node, only once.
func (h *rest) bind(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	wr, err := readWrite(r, scheme.CoreV1.WithKind("Binding"), &corev1.Binding{})
	if err != nil {
		return err
	}
	b := wr.obj.(*corev1.Binding)
	if b.Name != "" && b.Name != info.Name {
		return apierrors.NewBadRequest("the name of the Binding does not match the pod on the URL")
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		return apierrors.NewInvalid(scheme.CoreV1.WithKind("Binding").GroupKind(), info.Name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node"})})
	}
	if b.Target.Name == "" {
		return apierrors.NewInvalid(scheme.CoreV1.WithKind("Binding").GroupKind(), info.Name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")})
	}
	_, _, err = s.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(s.Resource().GroupResource(), info.Name)
		}
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(s.Resource().GroupResource(), info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", info.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(s.Resource().GroupResource(), info.Name, fmt.Errorf("pod %s is already assigned to node %q", info.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(s.Resource().GroupResource(), info.Name, fmt.Errorf("precondition failed: UID in binding %s, pod UID %s", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		pod.ResourceVersion = ""
		return pod, nil
	}, registry.UpdateOptions{Subresource: "binding"})
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}, out)
	return nil
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status != c.Status {
				st.Conditions[i] = c
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// finalizeNamespace writes a namespace's spec.finalizers (namespaces/finalize).
func (h *rest) finalizeNamespace(w http.ResponseWriter, r *http.Request, s *registry.Store, info requestInfo, out output) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := decodeBody(body, r.Header.Get("Content-Type"), scheme.CoreV1.WithKind("Namespace"), &corev1.Namespace{}, metav1.FieldValidationIgnore)
	if err != nil {
		return err
	}
	want := obj.(*corev1.Namespace)
	updated, _, err := s.Update(r.Context(), "", info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(s.Resource().GroupResource(), info.Name)
		}
		ns := cur.(*corev1.Namespace)
		ns.Spec.Finalizers = want.Spec.Finalizers
		ns.ResourceVersion = want.ResourceVersion
		return ns, nil
	}, registry.UpdateOptions{Subresource: "finalize"})
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, updated, out)
	return nil
}
