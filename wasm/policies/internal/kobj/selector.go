package kobj

import (
	"slices"
	"strconv"
	"strings"
)

// Requirement is one of a selector's matchExpressions.
type Requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// LabelSelector is metav1.LabelSelector.
type LabelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `json:"matchExpressions,omitempty"`
}

// Empty reports whether the selector selects everything.
func (s *LabelSelector) Empty() bool {
	return s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// Matches reports whether labels satisfy the selector, as labels.Selector does for one built
// by metav1.LabelSelectorAsSelector. A nil selector matches nothing; an empty one everything.
// An unknown operator matches nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case "In":
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// IntOrString is intstr.IntOrString as JSON: a number or a string such as "25%".
type IntOrString struct {
	IsString bool
	Int      int32
	Str      string
}

// UnmarshalJSON reads a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		s, err := strconv.Unquote(string(b))
		v.Str = s
		return err
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	v.Int = int32(n)
	return err
}

// MarshalJSON writes a number or a string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return []byte(strconv.Quote(v.Str)), nil
	}
	return []byte(strconv.FormatInt(int64(v.Int), 10)), nil
}

// Scaled is intstr.GetScaledValueFromIntOrPercent: an integer as is, a percentage of total
// rounded up or down. A nil value is 0.
func (v *IntOrString) Scaled(total int32, roundUp bool) (int32, bool) {
	if v == nil {
		return 0, true
	}
	if !v.IsString {
		return v.Int, true
	}
	s, ok := strings.CutSuffix(v.Str, "%")
	if !ok {
		n, err := strconv.ParseInt(v.Str, 10, 32)
		return int32(n), err == nil
	}
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	n := int64(p) * int64(total)
	if roundUp {
		return int32((n + 99) / 100), true
	}
	return int32(n / 100), true
}
