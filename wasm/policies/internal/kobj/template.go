package kobj

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"strconv"
)

// Template is a pod template (spec.template) as generic JSON.
type Template map[string]any

// Labels are the template's metadata.labels.
func (t Template) Labels() map[string]string {
	md, _ := t["metadata"].(map[string]any)
	l, _ := md["labels"].(map[string]any)
	out := make(map[string]string, len(l))
	for k, v := range l {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Annotations are the template's metadata.annotations.
func (t Template) Annotations() map[string]string {
	md, _ := t["metadata"].(map[string]any)
	l, _ := md["annotations"].(map[string]any)
	out := make(map[string]string, len(l))
	for k, v := range l {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Copy is a deep copy.
func (t Template) Copy() Template {
	c, _ := deepCopy(map[string]any(t)).(map[string]any)
	if c == nil {
		c = map[string]any{}
	}
	return c
}

// WithLabel returns a copy whose labels include k=v.
func (t Template) WithLabel(k, v string) Template {
	c := t.Copy()
	md, ok := c["metadata"].(map[string]any)
	if !ok {
		md = map[string]any{}
		c["metadata"] = md
	}
	l, ok := md["labels"].(map[string]any)
	if !ok {
		l = map[string]any{}
		md["labels"] = l
	}
	l[k] = v
	return c
}

// withoutLabel returns a copy without the label k.
func (t Template) withoutLabel(k string) Template {
	c := t.Copy()
	if md, ok := c["metadata"].(map[string]any); ok {
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, k)
		}
	}
	return c
}

// canonical is the template's JSON with keys sorted and empty maps, lists and nulls left out,
// so that templates apiequality.Semantic.DeepEqual would call equal encode the same.
func (t Template) canonical() []byte {
	b, _ := json.Marshal(prune(map[string]any(t)))
	return b
}

// EqualIgnoreHash is deployment util's EqualIgnoreHash: templates equal but for the
// pod-template-hash label.
func EqualIgnoreHash(a, b Template) bool {
	return bytes.Equal(a.withoutLabel(PodTemplateHashLabel).canonical(), b.withoutLabel(PodTemplateHashLabel).canonical())
}

// ComputeHash is the pod-template-hash of a template: FNV-32a of its canonical form (without
// the hash label) and the collision count, encoded as Kubernetes' rand.SafeEncodeString does.
// Kubernetes hashes a Go dump of its typed template instead, so the values differ from
// kube-controller-manager's; what matters is that they are stable and short.
func ComputeHash(t Template, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(t.withoutLabel(PodTemplateHashLabel).canonical())
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return safeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// safeEncodeString is k8s.io/apimachinery/pkg/util/rand.SafeEncodeString.
func safeEncodeString(s string) string {
	const alphanums = "bcdfghjklmnpqrstvwxz2456789"
	r := make([]byte, len(s))
	for i, b := range []byte(s) {
		r[i] = alphanums[int(b)%len(alphanums)]
	}
	return string(r)
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = deepCopy(e)
		}
		return c
	default:
		return v
	}
}

// prune drops nulls, empty objects and empty lists, recursively.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if p := prune(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = prune(e)
			if out[i] == nil {
				out[i] = map[string]any{}
			}
		}
		return out
	default:
		return v
	}
}
