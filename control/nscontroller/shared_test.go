package nscontroller_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/gc"
	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/nscontroller"
	"github.com/skiff-sh/skiff/control/registry"
)

// TestSharedInformerFactory runs the namespace controller and the garbage
// collector on one informer factory: a namespace whose deployment waits
// for its replica set (foreground) still goes.
func TestSharedInformerFactory(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	if _, err := reg.Namespaces().Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploys := reg.StoreFor(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	d, err := deploys.Create(ctx, "app", validDeployment("d"), registry.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := validReplicaSet("rs", []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: d.(metav1.Object).GetUID(), BlockOwnerDeletion: new(true),
	}})
	if _, err := reg.StoreFor(appsv1.SchemeGroupVersion.WithKind("ReplicaSet")).Create(ctx, "app", rs, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := deploys.Delete(ctx, "app", "d", &metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Namespaces().Delete(ctx, "", "app", nil); err != nil {
		t.Fatal(err)
	}

	f := informer.NewFactory(reg, 0, nil)
	runCtx, cancel := context.WithCancel(context.Background())
	ns := nscontroller.New(reg, nil)
	ns.Informers = f
	collector := gc.New(reg, nil)
	collector.Informers = f
	done := make(chan error, 2)
	go func() { done <- ns.Run(runCtx) }()
	go func() { done <- collector.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after the context ended")
			}
		}
		f.Shutdown()
	})

	eventually(t, "the namespace to go", func() bool { return namespace(t, reg, "app") == nil })
	// Both took their informers from f and started them there.
	if !f.ForStore(reg.Namespaces()).HasSynced() || !f.ForStore(deploys).HasSynced() {
		t.Error("the controllers did not run the factory's informers")
	}
}
