package registry_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

func newKV(t *testing.T) *raftstore.Store {
	t.Helper()
	c := storetest.New(t, 1, nil)
	return c.Nodes[0].Store()
}

// deployments is a resource with a spec/status split and generations.
func deployments() *registry.Resource {
	return &registry.Resource{
		Kind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Plural: "deployments", Singular: "deployment",
		Namespaced: true, Prefix: "/registry/deployments", Status: true, Generation: true,
		New:              func() runtime.Object { return &appsv1.Deployment{} },
		NewList:          func() runtime.Object { return &appsv1.DeploymentList{} },
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			if r := obj.(*appsv1.Deployment).Spec.Replicas; r != nil && *r < 0 {
				return field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), *r, "must be greater than or equal to 0")}
			}
			return nil
		},
	}
}

// pods is a resource with graceful deletion and a field selector.
func pods() *registry.Resource {
	return &registry.Resource{
		Kind: corev1.SchemeGroupVersion.WithKind("Pod"), Plural: "pods", Singular: "pod",
		Namespaced: true, Prefix: "/registry/pods", Status: true,
		New:     func() runtime.Object { return &corev1.Pod{} },
		NewList: func() runtime.Object { return &corev1.PodList{} },
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.nodeName": obj.(*corev1.Pod).Spec.NodeName}
		},
		GracePeriod: func(obj runtime.Object, requested *int64) int64 {
			if obj.(*corev1.Pod).Spec.NodeName == "" {
				return 0
			}
			if requested != nil {
				return *requested
			}
			return 30
		},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
}

func rv(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.(metav1.Object).GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion: %v", err)
	}
	return n
}

func TestCreateFillsMetadata(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, deployments())
	ctx := t.Context()
	before := kv.Rev()
	d := deployment("web", 2)
	d.Status.Replicas = 9 // a client may not set the status
	d.UID = "client-chosen"
	obj, err := s.Create(ctx, "default", d, registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*appsv1.Deployment)
	if got.UID == "" || got.UID == "client-chosen" {
		t.Errorf("uid = %q, want a fresh one", got.UID)
	}
	if got.Namespace != "default" || got.Generation != 1 || got.CreationTimestamp.IsZero() {
		t.Errorf("namespace %q generation %d created %v", got.Namespace, got.Generation, got.CreationTimestamp)
	}
	if got.Status.Replicas != 0 {
		t.Errorf("status.replicas = %d, want the status reset on create", got.Status.Replicas)
	}
	if rv(t, got) != before+1 {
		t.Errorf("resourceVersion = %d, want the store revision %d", rv(t, got), before+1)
	}
	read, err := s.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if read.(*appsv1.Deployment).UID != got.UID || rv(t, read) != rv(t, got) {
		t.Errorf("get = %+v, want what create answered", read.(*appsv1.Deployment).ObjectMeta)
	}

	_, err = s.Create(ctx, "default", deployment("web", 1), registry.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	other := deployment("x", 1)
	other.Namespace = "other"
	if _, err = s.Create(ctx, "default", other, registry.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("namespace mismatch: %v, want BadRequest", err)
	}
	if _, err = s.Create(ctx, "default", deployment("neg", -1), registry.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("invalid: %v, want Invalid", err)
	}
	gen := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-"}}
	obj, err = s.Create(ctx, "default", gen, registry.CreateOptions{})
	if err != nil || len(obj.(*appsv1.Deployment).Name) != len("web-")+5 {
		t.Errorf("generateName: %v %v", obj, err)
	}
	if _, err := s.Create(ctx, "default", deployment("dry", 1), registry.CreateOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "default", "dry"); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run create was stored: %v", err)
	}
}

func TestCreateChecksNamespace(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, deployments())
	s.NamespaceReady = func(_ context.Context, ns string) error {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), ns)
	}
	if _, err := s.Create(t.Context(), "missing", deployment("web", 1), registry.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("create in a missing namespace: %v, want NotFound", err)
	}
	// A check that passed on stale data: the transaction still refuses a
	// create in a namespace that is gone when it commits.
	s.NamespaceReady = func(context.Context, string) error { return nil }
	s.NamespaceKey = func(ns string) string { return "/registry/namespaces/" + ns }
	if _, err := s.Create(t.Context(), "gone", deployment("web", 1), registry.CreateOptions{}); !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "namespaces") {
		t.Errorf("create racing a namespace deletion: %v, want namespace NotFound", err)
	}
	if _, err := kv.Put(t.Context(), &pb.PutRequest{Key: []byte("/registry/namespaces/here"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), "here", deployment("web", 1), registry.CreateOptions{}); err != nil {
		t.Errorf("create in an existing namespace: %v", err)
	}
	if _, err := s.Create(t.Context(), "here", deployment("web", 1), registry.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
}

func replace(obj runtime.Object) registry.UpdateFunc {
	return func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil }
}

func TestUpdateConcurrencyAndGeneration(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, deployments())
	ctx := t.Context()
	obj, err := s.Create(ctx, "default", deployment("web", 1), registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := obj.(*appsv1.Deployment)

	// A label change is not a spec change: generation stays.
	next := v1.DeepCopy()
	next.Labels["tier"] = "front"
	obj, _, err = s.Update(ctx, "default", "web", replace(next), registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := obj.(*appsv1.Deployment)
	if v2.Generation != 1 || rv(t, v2) <= rv(t, v1) {
		t.Errorf("label update: generation %d rv %d (was %d)", v2.Generation, rv(t, v2), rv(t, v1))
	}

	// The stale resourceVersion of v1 is a conflict.
	stale := v1.DeepCopy()
	stale.Spec.Replicas = ptr.To[int32](5)
	if _, _, err = s.Update(ctx, "default", "web", replace(stale), registry.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}

	// A spec change bumps the generation; a status in the body is ignored.
	next = v2.DeepCopy()
	next.Spec.Replicas = ptr.To[int32](3)
	next.Status.Replicas = 7
	obj, _, err = s.Update(ctx, "default", "web", replace(next), registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v3 := obj.(*appsv1.Deployment)
	if v3.Generation != 2 || v3.Status.Replicas != 0 {
		t.Errorf("spec update: generation %d status.replicas %d, want 2 and 0", v3.Generation, v3.Status.Replicas)
	}

	// The status subresource writes only the status.
	next = v3.DeepCopy()
	next.Status.Replicas = 3
	next.Spec.Replicas = ptr.To[int32](9)
	obj, _, err = s.Update(ctx, "default", "web", replace(next), registry.UpdateOptions{Subresource: "status"})
	if err != nil {
		t.Fatal(err)
	}
	v4 := obj.(*appsv1.Deployment)
	if v4.Status.Replicas != 3 || *v4.Spec.Replicas != 3 || v4.Generation != 2 {
		t.Errorf("status update: status %d spec %d generation %d", v4.Status.Replicas, *v4.Spec.Replicas, v4.Generation)
	}

	// An update that changes nothing is not written.
	before := kv.Rev()
	obj, _, err = s.Update(ctx, "default", "web", replace(v4), registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kv.Rev() != before || rv(t, obj) != rv(t, v4) {
		t.Errorf("no-op update wrote: store rev %d -> %d, object rv %d", before, kv.Rev(), rv(t, obj))
	}

	// An unconditional update (no resourceVersion) wins over a concurrent
	// write by retrying on the fresh object.
	raced := false
	obj, _, err = s.Update(ctx, "default", "web", func(cur runtime.Object) (runtime.Object, error) {
		if !raced {
			raced = true
			other := cur.DeepCopyObject().(*appsv1.Deployment)
			other.Annotations = map[string]string{"by": "other"}
			if _, _, err := s.Update(ctx, "default", "web", replace(other), registry.UpdateOptions{}); err != nil {
				t.Errorf("concurrent update: %v", err)
			}
		}
		d := cur.DeepCopyObject().(*appsv1.Deployment)
		d.ResourceVersion = ""
		d.Spec.Replicas = ptr.To[int32](4)
		return d, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := obj.(*appsv1.Deployment); *d.Spec.Replicas != 4 || d.Annotations["by"] != "other" {
		t.Errorf("retried update = replicas %d annotations %v, want both writes kept", *d.Spec.Replicas, d.Annotations)
	}

	if _, _, err := s.Update(ctx, "default", "missing", replace(deployment("missing", 1)), registry.UpdateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("update of a missing object: %v, want NotFound", err)
	}
}

func TestDeleteFinalizersAndGrace(t *testing.T) {
	kv := newKV(t)
	ds := registry.NewStore(kv, deployments())
	ctx := t.Context()
	obj, err := ds.Create(ctx, "default", deployment("web", 1), registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uid := obj.(*appsv1.Deployment).UID
	wrong := "other"
	if _, _, err := ds.Delete(ctx, "default", "web", &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &wrong}}); !apierrors.IsConflict(err) {
		t.Errorf("delete with a wrong resourceVersion precondition: %v, want Conflict", err)
	}
	// Foreground deletion keeps the object with a finalizer for the GC.
	obj, gone, err := ds.Delete(ctx, "default", "web", &metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil || gone {
		t.Fatalf("foreground delete: gone %v err %v", gone, err)
	}
	d := obj.(*appsv1.Deployment)
	if d.DeletionTimestamp == nil || len(d.Finalizers) != 1 || d.Finalizers[0] != registry.FinalizerForeground {
		t.Fatalf("after foreground delete: deletionTimestamp %v finalizers %v", d.DeletionTimestamp, d.Finalizers)
	}
	// Removing the last finalizer deletes it.
	d.Finalizers = nil
	if _, _, err := ds.Update(ctx, "default", "web", replace(d), registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Get(ctx, "default", "web"); !apierrors.IsNotFound(err) {
		t.Errorf("after the last finalizer: %v, want NotFound", err)
	}

	// A pod on a node waits for the node: deletionTimestamp = now + grace.
	ps := registry.NewStore(kv, pods())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ps.Now = func() time.Time { return now }
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	if _, err := ps.Create(ctx, "default", pod, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, gone, err = ps.Delete(ctx, "default", "p", nil)
	if err != nil || gone {
		t.Fatalf("graceful delete: gone %v err %v", gone, err)
	}
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp == nil || !p.DeletionTimestamp.Time.Equal(now.Add(30*time.Second)) || *p.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete: deletionTimestamp %v grace %v", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	// The node confirms with grace 0.
	if _, gone, err = ps.Delete(ctx, "default", "p", &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil || !gone {
		t.Fatalf("confirming delete: gone %v err %v", gone, err)
	}
	if _, err := ps.Get(ctx, "default", "p"); !apierrors.IsNotFound(err) {
		t.Errorf("after confirmation: %v, want NotFound", err)
	}
	if _, _, err := ps.Delete(ctx, "default", "p", nil); !apierrors.IsNotFound(err) {
		t.Errorf("delete of a missing pod: %v, want NotFound", err)
	}
}

func TestListPagesAtOneRevision(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, pods())
	ctx := t.Context()
	for i := range 10 {
		node := "a"
		if i%2 == 1 {
			node = "b"
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(i), Labels: map[string]string{"node": node}}, Spec: corev1.PodSpec{NodeName: node}}
		if _, err := s.Create(ctx, "default", pod, registry.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.List(ctx, "default", metav1.ListOptions{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	first := page.(*corev1.PodList)
	if len(first.Items) != 4 || first.Continue == "" || first.RemainingItemCount == nil || *first.RemainingItemCount != 6 {
		t.Fatalf("first page: %d items, continue %q, remaining %v", len(first.Items), first.Continue, first.RemainingItemCount)
	}
	// A write between pages is not seen: the list is at one revision.
	if _, err := s.Create(ctx, "default", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p99"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range first.Items {
		names = append(names, p.Name)
	}
	cont := first.Continue
	for cont != "" {
		page, err := s.List(ctx, "default", metav1.ListOptions{Limit: 4, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		l := page.(*corev1.PodList)
		if l.ResourceVersion != first.ResourceVersion {
			t.Errorf("page at revision %s, first at %s", l.ResourceVersion, first.ResourceVersion)
		}
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		cont = l.Continue
	}
	if len(names) != 10 {
		t.Errorf("paged list = %v, want the 10 pods of the first page's revision", names)
	}

	for _, tc := range []struct {
		opts metav1.ListOptions
		want int
	}{
		{metav1.ListOptions{LabelSelector: "node=a"}, 5},
		{metav1.ListOptions{FieldSelector: "spec.nodeName=b"}, 5},
		{metav1.ListOptions{FieldSelector: "metadata.name=p3"}, 1},
		{metav1.ListOptions{LabelSelector: "node=b", Limit: 2}, 2},
		{metav1.ListOptions{ResourceVersion: "0"}, 11},
	} {
		l, err := s.List(ctx, "", tc.opts)
		if err != nil {
			t.Fatalf("%+v: %v", tc.opts, err)
		}
		if n := len(l.(*corev1.PodList).Items); n != tc.want {
			t.Errorf("%+v: %d items, want %d", tc.opts, n, tc.want)
		}
	}
	if _, err := s.List(ctx, "", metav1.ListOptions{FieldSelector: "spec.unknown=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field selector: %v, want BadRequest", err)
	}
	if _, err := s.List(ctx, "", metav1.ListOptions{LabelSelector: "a in (b"}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad label selector: %v, want BadRequest", err)
	}
	if _, err := s.List(ctx, "", metav1.ListOptions{Continue: "garbage"}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad continue: %v, want BadRequest", err)
	}
	if _, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: kv.Rev()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, "default", metav1.ListOptions{Limit: 4, Continue: first.Continue}); !apierrors.IsResourceExpired(err) {
		t.Errorf("continue past compaction: %v, want 410 Expired", err)
	}
}

// next reads one event or fails after a while.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
	}
	return watch.Event{}
}

func eventName(ev watch.Event) string {
	return string(ev.Type) + " " + ev.Object.(metav1.Object).GetName()
}

func TestWatchRules(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, pods())
	ctx := t.Context()
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	}
	created, err := s.Create(ctx, "default", pod("a", "n1"), registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No resourceVersion: the current objects first, as ADDED.
	all, err := s.Watch(ctx, "default", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Stop()
	if got := eventName(next(t, all)); got != "ADDED a" {
		t.Errorf("initial event = %s", got)
	}
	// From a resourceVersion: only what came after.
	after, err := s.Watch(ctx, "default", metav1.ListOptions{ResourceVersion: strconv.FormatInt(rv(t, created), 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Stop()
	// A selector on spec.nodeName: moving off n1 is a DELETED for it.
	onN1, err := s.Watch(ctx, "default", metav1.ListOptions{ResourceVersion: strconv.FormatInt(rv(t, created), 10), FieldSelector: "spec.nodeName=n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer onN1.Stop()

	if _, err := s.Create(ctx, "default", pod("b", "n2"), registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, _, err := s.Update(ctx, "default", "a", func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		p.Spec.NodeName = "n2"
		return p, nil
	}, registry.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Delete(ctx, "default", "b", &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDED b", "MODIFIED a", "DELETED b"} {
		if got := eventName(next(t, after)); got != want {
			t.Errorf("watch from rv: %s, want %s", got, want)
		}
	}
	ev := next(t, onN1)
	if eventName(ev) != "DELETED a" || rv(t, ev.Object) != rv(t, obj) {
		t.Errorf("selector watch: %s at %d, want DELETED a at %d", eventName(ev), rv(t, ev.Object), rv(t, obj))
	}

	// Watch-list: initial events, then a bookmark that ends them.
	wl, err := s.Watch(ctx, "default", metav1.ListOptions{
		SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	if got := eventName(next(t, wl)); got != "ADDED a" {
		t.Errorf("watch-list initial = %s", got)
	}
	bm := next(t, wl)
	if bm.Type != watch.Bookmark || bm.Object.(metav1.Object).GetAnnotations()[registry.InitialEventsEndAnnotation] != "true" {
		t.Errorf("watch-list end = %s %v", bm.Type, bm.Object)
	}
	if _, err := s.Watch(ctx, "default", metav1.ListOptions{SendInitialEvents: ptr.To(true)}); !apierrors.IsInvalid(err) {
		t.Errorf("sendInitialEvents without bookmarks: %v, want Invalid", err)
	}

	// Past compaction: an ERROR event with 410.
	if _, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: kv.Rev()}); err != nil {
		t.Fatal(err)
	}
	old, err := s.Watch(ctx, "default", metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Stop()
	ev = next(t, old)
	if st, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || st.Code != 410 {
		t.Errorf("compacted watch: %s %v, want ERROR 410", ev.Type, ev.Object)
	}
}

func TestWatchNames(t *testing.T) {
	kv := newKV(t)
	s := registry.NewStore(kv, pods())
	ctx := t.Context()
	w, err := s.WatchNames(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := s.Create(ctx, "team-a", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Delete(ctx, "team-a", "p", nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []watch.EventType{watch.Added, watch.Deleted} {
		ev := next(t, w)
		m := ev.Object.(*metav1.PartialObjectMetadata)
		if ev.Type != want || m.Namespace != "team-a" || m.Name != "p" || m.ResourceVersion == "" {
			t.Errorf("event %s %s/%s rv %q, want %s team-a/p", ev.Type, m.Namespace, m.Name, m.ResourceVersion, want)
		}
	}
}
