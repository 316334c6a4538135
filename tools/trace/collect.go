package trace

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// eventPage is how many events one list request asks for.
const eventPage = 500

// Collect reads deployment in namespace and everything its lifecycle touched, and returns
// its timeline. An unknown deployment is an error for which apierrors.IsNotFound holds.
func Collect(ctx context.Context, client kubernetes.Interface, namespace, deployment string) (*Timeline, error) {
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("trace: %w in namespace %q", err, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("trace: getting deployment %s/%s: %w", namespace, deployment, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("trace: selector of deployment %s/%s: %w", namespace, deployment, err)
	}
	s := &snapshot{deploy: d}
	var sets []appsv1.ReplicaSet
	var pods []corev1.Pod
	// The four reads are independent: run them side by side.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Go(func() {
		l, err := client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			errs[0] = fmt.Errorf("trace: listing replicasets of deployment %s/%s: %w", namespace, deployment, err)
			return
		}
		sets = l.Items
	})
	wg.Go(func() {
		l, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			errs[1] = fmt.Errorf("trace: listing pods of deployment %s/%s: %w", namespace, deployment, err)
			return
		}
		pods = l.Items
	})
	wg.Go(func() { s.services, s.slices, errs[2] = services(ctx, client, d) })
	wg.Go(func() { s.events, errs[3] = events(ctx, client, namespace) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	owned := map[types.UID]bool{}
	for _, rs := range sets {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			s.sets = append(s.sets, rs)
			owned[rs.UID] = true
		}
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && owned[ref.UID] {
			s.pods = append(s.pods, p)
		}
	}
	return build(s), nil
}

// services lists the Services of d's namespace whose selector selects d's pod template, and
// their EndpointSlices.
func services(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]corev1.Service, []discoveryv1.EndpointSlice, error) {
	l, err := client.CoreV1().Services(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("trace: listing services of namespace %s: %w", d.Namespace, err)
	}
	tmpl := labels.Set(d.Spec.Template.Labels)
	var svcs []corev1.Service
	var slices []discoveryv1.EndpointSlice
	for _, svc := range l.Items {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(tmpl) {
			continue
		}
		svcs = append(svcs, svc)
		sl, err := client.DiscoveryV1().EndpointSlices(d.Namespace).List(ctx,
			metav1.ListOptions{LabelSelector: labels.Set{discoveryv1.LabelServiceName: svc.Name}.String()})
		if err != nil {
			return nil, nil, fmt.Errorf("trace: listing endpointslices of service %s/%s: %w", d.Namespace, svc.Name, err)
		}
		slices = append(slices, sl.Items...)
	}
	return svcs, slices, nil
}

// events lists every core/v1 Event of namespace, page by page. One list beats one filtered
// list per object: a trace touches tens of objects, a namespace holds an hour of events.
func events(ctx context.Context, client kubernetes.Interface, namespace string) ([]corev1.Event, error) {
	var out []corev1.Event
	opts := metav1.ListOptions{Limit: eventPage}
	for {
		l, err := client.CoreV1().Events(namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("trace: listing events of namespace %s: %w", namespace, err)
		}
		out = append(out, l.Items...)
		if l.Continue == "" {
			return out, nil
		}
		opts.Continue = l.Continue
	}
}
