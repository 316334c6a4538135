// Package kobj is what Skiff's built-in controller policies need of Kubernetes objects, without
// k8s.io/api: the policies run as wasm modules, where the generated API types would cost
// megabytes and milliseconds per call. An object is kept twice: as the generic JSON document the
// host sent (Raw, so writing it back loses no field this package does not know), and as a small
// typed view of the fields a policy reads. Setters change both.
package kobj

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Well-known labels and annotations.
const (
	// PodTemplateHashLabel is the label the deployment controller puts on its ReplicaSets and
	// their pods.
	PodTemplateHashLabel = "pod-template-hash"
	// LastAppliedAnnotation is kubectl's client-side apply record; never copied to ReplicaSets.
	LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
)

// OwnerReference is metadata.ownerReferences[i].
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// IsController reports whether the reference is the controller reference.
func (r OwnerReference) IsController() bool { return r.Controller != nil && *r.Controller }

// ObjectMeta is the part of metadata policies read.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	GenerateName      string            `json:"generateName,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp *time.Time        `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
}

// Created is the creation time, zero if unset.
func (m *ObjectMeta) Created() time.Time {
	if m.CreationTimestamp == nil {
		return time.Time{}
	}
	return *m.CreationTimestamp
}

// Deleting reports whether the object has a deletionTimestamp.
func (m *ObjectMeta) Deleting() bool { return m.DeletionTimestamp != nil }

// ControllerRef is the controller owner reference, or nil.
func (m *ObjectMeta) ControllerRef() *OwnerReference {
	for i := range m.OwnerReferences {
		if m.OwnerReferences[i].IsController() {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Object is one object: its JSON document and its metadata.
type Object struct {
	Raw  map[string]any
	Meta ObjectMeta
}

// decode fills o.Raw from b and the typed view v (a struct with a "metadata" field read into
// o.Meta by the caller's struct, or any struct).
func decode(b []byte, o *Object, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&o.Raw); err != nil {
		return err
	}
	if o.Raw == nil {
		return fmt.Errorf("not a JSON object")
	}
	var m struct {
		Metadata ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	o.Meta = m.Metadata
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// JSON is the object's document.
func (o *Object) JSON() json.RawMessage {
	b, err := json.Marshal(o.Raw)
	if err != nil {
		// Raw only ever holds what encoding/json decoded plus values set here.
		panic(fmt.Sprintf("kobj: encode %s: %v", o.Meta.Name, err))
	}
	return b
}

// Set sets the field at path (creating objects on the way) to v; nil deletes it.
func (o *Object) Set(v any, path ...string) {
	m := o.Raw
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if v == nil {
		delete(m, last)
		return
	}
	// Round-trip typed values so Raw holds only generic JSON values.
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kobj: encode %v: %v", path, err))
	}
	var g any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&g); err != nil {
		panic(fmt.Sprintf("kobj: decode %v: %v", path, err))
	}
	m[last] = g
}

// Get returns the generic value at path, or nil.
func (o *Object) Get(path ...string) any {
	var v any = o.Raw
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// SetAnnotations replaces metadata.annotations.
func (o *Object) SetAnnotations(a map[string]string) {
	o.Meta.Annotations = a
	if len(a) == 0 {
		o.Set(nil, "metadata", "annotations")
		return
	}
	o.Set(a, "metadata", "annotations")
}

// SetAnnotation sets one annotation.
func (o *Object) SetAnnotation(k, v string) {
	a := make(map[string]string, len(o.Meta.Annotations)+1)
	for k, v := range o.Meta.Annotations {
		a[k] = v
	}
	a[k] = v
	o.SetAnnotations(a)
}

// SetOwnerReferences replaces metadata.ownerReferences.
func (o *Object) SetOwnerReferences(refs []OwnerReference) {
	o.Meta.OwnerReferences = refs
	if len(refs) == 0 {
		o.Set(nil, "metadata", "ownerReferences")
		return
	}
	o.Set(refs, "metadata", "ownerReferences")
}

// Ref is the reference to the object needed by a delete: kind, name and preconditions.
func (o *Object) Ref(withResourceVersion bool) json.RawMessage {
	md := map[string]any{"namespace": o.Meta.Namespace, "name": o.Meta.Name, "uid": o.Meta.UID}
	if withResourceVersion {
		md["resourceVersion"] = o.Meta.ResourceVersion
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": o.Raw["apiVersion"], "kind": o.Raw["kind"], "metadata": md})
	return b
}

// NewControllerRef is a controller reference to owner that blocks its deletion.
func NewControllerRef(apiVersion, kind string, owner *ObjectMeta) OwnerReference {
	t := true
	return OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.Name, UID: owner.UID, Controller: &t, BlockOwnerDeletion: &t}
}

// FormatTime renders t as metav1.Time does: RFC 3339, UTC, whole seconds.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// Int32 parses a decimal annotation value.
func Int32(s string) (int32, bool) {
	v, err := strconv.ParseInt(s, 10, 32)
	return int32(v), err == nil
}
