package printers

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/cli-runtime/pkg/printers"
)

func samplePods() *corev1.PodList {
	return &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: ptr(int64(7))},
		Items: []corev1.Pod{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web", ResourceVersion: "40",
				CreationTimestamp: ago(5 * time.Minute), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}},
				ContainerStatuses: []corev1.ContainerStatus{running(true)}},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "crash", Namespace: "default", UID: "uid-crash", CreationTimestamp: ago(3 * time.Hour)},
			Spec:       corev1.PodSpec{NodeName: "node-2", Containers: []corev1.Container{{Name: "web"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", RestartCount: 5,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: terminatedAt(2 * time.Minute),
			}}},
		}},
	}
}

func TestIncludeObject(t *testing.T) {
	tests := []struct {
		policy metav1.IncludeObjectPolicy
		check  func(t *testing.T, obj runtime.Object)
	}{
		{metav1.IncludeNone, func(t *testing.T, obj runtime.Object) {
			if obj != nil {
				t.Errorf("object = %T, want nil", obj)
			}
		}},
		{"", checkPartial},
		{metav1.IncludeMetadata, checkPartial},
		{metav1.IncludeObject, func(t *testing.T, obj runtime.Object) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				t.Fatalf("object = %T, want *corev1.Pod", obj)
			}
			if pod.APIVersion != "v1" || pod.Kind != "Pod" || pod.Spec.Containers[0].Image != "nginx" {
				t.Errorf("object = %s %s image %q, want v1 Pod with its spec", pod.APIVersion, pod.Kind, pod.Spec.Containers[0].Image)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			list := samplePods()
			orig := list.DeepCopy()
			table := mustTable(t, list, metav1.TableOptions{IncludeObject: tt.policy})
			tt.check(t, table.Rows[0].Object.Object)
			if !reflect.DeepEqual(list, orig) {
				t.Errorf("Table modified its input")
			}
		})
	}
}

func checkPartial(t *testing.T, obj runtime.Object) {
	t.Helper()
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		t.Fatalf("object = %T, want *metav1.PartialObjectMetadata", obj)
	}
	if p.APIVersion != "meta.k8s.io/v1" || p.Kind != "PartialObjectMetadata" {
		t.Errorf("partial kind = %s %s, want meta.k8s.io/v1 PartialObjectMetadata", p.APIVersion, p.Kind)
	}
	if p.Name != "web" || p.Namespace != "default" || p.UID != "uid-web" || p.ResourceVersion != "40" || p.Labels["app"] != "web" {
		t.Errorf("partial metadata = %+v", p.ObjectMeta)
	}
}

func TestIncludeObjectKeepsKindOfSingleObject(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: objMeta("web")}
	table := mustTable(t, d, metav1.TableOptions{IncludeObject: metav1.IncludeObject})
	got := table.Rows[0].Object.Object.(*appsv1.Deployment)
	if got.APIVersion != "apps/v1" || got.Kind != "Deployment" {
		t.Errorf("object kind = %s %s, want apps/v1 Deployment", got.APIVersion, got.Kind)
	}
	if d.Kind != "" {
		t.Errorf("input deployment got kind %q", d.Kind)
	}
}

func TestTableMetadataAndHeaders(t *testing.T) {
	table := mustTable(t, samplePods(), metav1.TableOptions{})
	if table.APIVersion != "meta.k8s.io/v1" || table.Kind != "Table" {
		t.Errorf("table kind = %s %s", table.APIVersion, table.Kind)
	}
	if table.ResourceVersion != "42" || table.Continue != "next-page" || table.RemainingItemCount == nil || *table.RemainingItemCount != 7 {
		t.Errorf("list meta = %+v", table.ListMeta)
	}
	if len(table.ColumnDefinitions) != len(podColumns) {
		t.Errorf("got %d column definitions, want %d", len(table.ColumnDefinitions), len(podColumns))
	}

	noHeaders := mustTable(t, samplePods(), metav1.TableOptions{NoHeaders: true})
	if noHeaders.ColumnDefinitions != nil {
		t.Errorf("NoHeaders table has columns %v", noHeaders.ColumnDefinitions)
	}
	if len(noHeaders.Rows) != 2 || len(noHeaders.Rows[0].Cells) != len(podColumns) {
		t.Errorf("NoHeaders table rows = %v", noHeaders.Rows)
	}

	single := mustTable(t, &samplePods().Items[0], metav1.TableOptions{})
	if single.ResourceVersion != "40" || single.Continue != "" {
		t.Errorf("single object list meta = %+v, want resourceVersion 40", single.ListMeta)
	}
}

func TestDefaultTable(t *testing.T) {
	sa := corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", ResourceVersion: "9",
		CreationTimestamp: metav1.NewTime(time.Date(2026, 2, 27, 8, 30, 0, 0, time.FixedZone("CET", 3600)))}}
	table := mustTable(t, &corev1.ServiceAccountList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: []corev1.ServiceAccount{sa}}, metav1.TableOptions{})
	wantCols := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]},
		{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
	}
	if !reflect.DeepEqual(table.ColumnDefinitions, wantCols) {
		t.Errorf("columns = %+v", table.ColumnDefinitions)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(table.Rows))
	}
	checkCells(t, table.Rows[0].Cells, []any{"builder", "2026-02-27T07:30:00Z"})
	if table.ResourceVersion != "10" {
		t.Errorf("resourceVersion = %q, want 10", table.ResourceVersion)
	}
	checkPartialName(t, table.Rows[0].Object.Object, "builder")

	single := mustTable(t, &sa, metav1.TableOptions{NoHeaders: true})
	if single.ColumnDefinitions != nil || len(single.Rows) != 1 || single.ResourceVersion != "9" {
		t.Errorf("single default table = %+v", single)
	}

	// A type unknown to the package keeps the kind it carries under IncludeObject.
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "policy.skiff.sh/v1", "kind": "Module", "metadata": map[string]any{"name": "binpack"}}}
	withObj := mustTable(t, u, metav1.TableOptions{IncludeObject: metav1.IncludeObject})
	if got := withObj.Rows[0].Object.Object.GetObjectKind().GroupVersionKind().Kind; got != "Module" || withObj.Rows[0].Cells[0] != "binpack" {
		t.Errorf("unstructured row = kind %q cells %v", got, withObj.Rows[0].Cells)
	}
}

func checkPartialName(t *testing.T, obj runtime.Object, name string) {
	t.Helper()
	if p, ok := obj.(*metav1.PartialObjectMetadata); !ok || p.Name != name {
		t.Errorf("row object = %#v, want PartialObjectMetadata named %s", obj, name)
	}
}

func TestTableErrors(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		opts metav1.TableOptions
		want error
	}{
		{"object without metadata", &metav1.Status{Status: metav1.StatusFailure}, metav1.TableOptions{}, ErrNotAcceptable},
		{"nil object", nil, metav1.TableOptions{}, ErrNotAcceptable},
		{"typed nil", (*corev1.Pod)(nil), metav1.TableOptions{}, ErrNotAcceptable},
		{"bad includeObject", &corev1.Pod{}, metav1.TableOptions{IncludeObject: "Everything"}, ErrInvalidIncludeObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Table(tt.obj, tt.opts, now)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWatchConverterSendsHeadersOnce(t *testing.T) {
	w := NewWatchConverter(metav1.TableOptions{}, func() time.Time { return now })
	pod := &samplePods().Items[0]

	first, err := w.Convert(pod)
	if err != nil {
		t.Fatal(err)
	}
	if cols := first.(*metav1.Table).ColumnDefinitions; len(cols) != len(podColumns) {
		t.Errorf("first event has %d columns, want %d", len(cols), len(podColumns))
	}
	second, err := w.Convert(pod)
	if err != nil {
		t.Fatal(err)
	}
	if tbl := second.(*metav1.Table); tbl.ColumnDefinitions != nil || tbl.Rows[0].Cells[4] != "5m" {
		t.Errorf("second event = %+v, want rows without columns", tbl)
	}

	// An error event passes through unchanged, and still uses up the headers.
	w = NewWatchConverter(metav1.TableOptions{}, func() time.Time { return now })
	status := &metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonExpired}
	if got, err := w.Convert(status); err != nil || got != status {
		t.Errorf("Convert(status) = %v, %v; want the status itself", got, err)
	}
	after, err := w.Convert(pod)
	if err != nil {
		t.Fatal(err)
	}
	if after.(*metav1.Table).ColumnDefinitions != nil {
		t.Errorf("event after an error event carries columns")
	}
}

// kubectlDecode decodes a Table response the way kubectl get does.
func kubectlDecode(t *testing.T, data []byte) *metav1.Table {
	t.Helper()
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		t.Fatalf("decode as unstructured: %v", err)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GroupVersionKind() != metav1.SchemeGroupVersion.WithKind("Table") {
		t.Fatalf("decoded %T %v, want a meta.k8s.io/v1 Table", obj, obj.GetObjectKind().GroupVersionKind())
	}
	table := &metav1.Table{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, table); err != nil {
		t.Fatalf("convert to Table: %v", err)
	}
	return table
}

func TestJSONRoundTrip(t *testing.T) {
	orig := mustTable(t, samplePods(), metav1.TableOptions{})
	data, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"Table"`, `"apiVersion":"meta.k8s.io/v1"`, `"kind":"PartialObjectMetadata"`, `"cells":["web","1/1","Running","0","5m"`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("JSON lacks %s:\n%s", want, data)
		}
	}

	var back metav1.Table
	if err := utiljson.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.TypeMeta, orig.TypeMeta) || !reflect.DeepEqual(back.ListMeta, orig.ListMeta) {
		t.Errorf("meta = %+v %+v, want %+v %+v", back.TypeMeta, back.ListMeta, orig.TypeMeta, orig.ListMeta)
	}
	if !reflect.DeepEqual(back.ColumnDefinitions, orig.ColumnDefinitions) {
		t.Errorf("columns changed in the round trip")
	}
	if len(back.Rows) != len(orig.Rows) {
		t.Fatalf("got %d rows back, want %d", len(back.Rows), len(orig.Rows))
	}
	for i := range orig.Rows {
		checkCells(t, back.Rows[i].Cells, orig.Rows[i].Cells)
		var partial metav1.PartialObjectMetadata
		if err := json.Unmarshal(back.Rows[i].Object.Raw, &partial); err != nil {
			t.Fatalf("row %d object: %v", i, err)
		}
		if !equality.Semantic.DeepEqual(&partial, orig.Rows[i].Object.Object) {
			t.Errorf("row %d object = %+v, want %+v", i, partial, orig.Rows[i].Object.Object)
		}
	}

	// Integer cells stay integers, as kube-apiserver's clients decode them.
	cm := mustTable(t, &corev1.ConfigMap{ObjectMeta: objMeta("cfg"), Data: map[string]string{"a": "b"}}, metav1.TableOptions{IncludeObject: metav1.IncludeNone})
	data, err = json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"cells":["cfg",1,"5m"]`)) || !bytes.Contains(data, []byte(`"object":null`)) {
		t.Errorf("configmap JSON = %s", data)
	}
	decoded := kubectlDecode(t, data)
	checkCells(t, decoded.Rows[0].Cells, []any{"cfg", int64(1), "5m"})
}

// TestKubectlOutput renders tables with kubectl's own table printer, after
// decoding them as kubectl does, and compares with what kubectl prints
// against kube-apiserver.
func TestKubectlOutput(t *testing.T) {
	svc := &corev1.ServiceList{Items: []corev1.Service{{
		ObjectMeta: objMeta("web"),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.43.0.10"}, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}},
	}}}
	deploy := &appsv1.DeploymentList{Items: []appsv1.Deployment{{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-world", CreationTimestamp: ago(26 * time.Second)},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "hello-world"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hello-app", Image: "gcr.io/google-samples/hello-app:1.0"}}}}},
		Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}}}
	tests := []struct {
		name string
		obj  runtime.Object
		wide bool
		want string
	}{{
		name: "pods",
		obj:  samplePods(),
		want: `
NAME    READY   STATUS             RESTARTS     AGE
web     1/1     Running            0            5m
crash   0/1     CrashLoopBackOff   5 (2m ago)   3h
`,
	}, {
		name: "pods wide",
		obj:  samplePods(),
		wide: true,
		want: `
NAME    READY   STATUS             RESTARTS     AGE   IP          NODE     NOMINATED NODE   READINESS GATES
web     1/1     Running            0            5m    10.42.0.7   node-1   <none>           <none>
crash   0/1     CrashLoopBackOff   5 (2m ago)   3h    <none>      node-2   <none>           <none>
`,
	}, {
		name: "node port service",
		obj:  svc,
		want: `
NAME   TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE
web    NodePort   10.43.0.10   <none>        80:30080/TCP   5m
`,
	}, {
		name: "deployment wide",
		obj:  deploy,
		wide: true,
		want: `
NAME          READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES                                SELECTOR
hello-world   1/1     1            1           26s   hello-app    gcr.io/google-samples/hello-app:1.0   app=hello-world
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(mustTable(t, tt.obj, metav1.TableOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := printers.NewTablePrinter(printers.PrintOptions{Wide: tt.wide}).PrintObj(kubectlDecode(t, data), &out); err != nil {
				t.Fatal(err)
			}
			if got, want := out.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("kubectl output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
