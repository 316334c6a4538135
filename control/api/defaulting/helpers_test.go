package defaulting

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// assertSameJSON fails unless got marshals to the same JSON document as the
// YAML want, as `kubectl get -o yaml` would print it.
func assertSameJSON(t *testing.T, got any, wantYAML string) {
	t.Helper()
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal got: %v", err)
	}
	wantJSON, err := yaml.YAMLToJSON([]byte(wantYAML))
	if err != nil {
		t.Fatalf("want is not YAML: %v", err)
	}
	var g, w any
	if err := json.Unmarshal(gotJSON, &g); err != nil {
		t.Fatalf("unmarshal got: %v", err)
	}
	if err := json.Unmarshal(wantJSON, &w); err != nil {
		t.Fatalf("unmarshal want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		gotYAML, _ := yaml.JSONToYAML(gotJSON)
		t.Errorf("defaulted object differs from kube-apiserver's\ngot:\n%s\nwant:\n%s", gotYAML, wantYAML)
	}
}

// assertIdempotent fails if a second Default changes an already defaulted obj.
func assertIdempotent(t *testing.T, obj runtime.Object) {
	t.Helper()
	once := obj.DeepCopyObject()
	Default(once)
	twice := once.DeepCopyObject()
	Default(twice)
	a, _ := json.Marshal(once)
	b, _ := json.Marshal(twice)
	if string(a) != string(b) {
		t.Errorf("Default is not idempotent:\nonce:  %s\ntwice: %s", a, b)
	}
}
