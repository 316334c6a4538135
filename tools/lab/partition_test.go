package lab

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/nftables/expr"
)

func TestPartitionAndRingLinks(t *testing.T) {
	tests := []struct {
		name  string
		links []Link
		want  map[string][]string
	}{
		{"minority/majority", PartitionLinks([]string{"vm1"}, []string{"vm2", "vm3"}),
			map[string][]string{"vm1": {"vm2", "vm3"}, "vm2": {"vm1"}, "vm3": {"vm1"}}},
		{"three groups", PartitionLinks([]string{"a"}, []string{"b"}, []string{"c"}),
			map[string][]string{"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}}},
		{"ring of 3 cuts one link", RingLinks([]string{"vm2", "vm3", "vm1"}),
			map[string][]string{"vm2": {"vm3"}, "vm3": {"vm2"}}},
		{"ring of 5 keeps the two neighbours", RingLinks([]string{"a", "b", "c", "d", "e"}),
			map[string][]string{"a": {"c", "d"}, "b": {"d", "e"}, "c": {"a", "e"}, "d": {"a", "b"}, "e": {"b", "c"}}},
		{"ring of 2 cuts nothing", RingLinks([]string{"a", "b"}), map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CutPeers(tt.links); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cut peers %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRingSeesMajorities: in every ring each VM sees a majority (itself included) and no
// two neighbours see the same set.
func TestRingSeesMajorities(t *testing.T) {
	for n := 3; n <= 9; n++ {
		var vms []string
		for i := range n {
			vms = append(vms, fmt.Sprintf("v%d", i))
		}
		cut := CutPeers(RingLinks(vms))
		seen := map[string]bool{}
		for _, vm := range vms {
			sees := n - len(cut[vm])
			if sees <= n/2 {
				t.Errorf("n=%d: %s sees %d of %d, not a majority", n, vm, sees, n)
			}
			seen[fmt.Sprint(cut[vm])] = true
		}
		if len(seen) < 2 {
			t.Errorf("n=%d: every VM sees the same majority: %v", n, cut)
		}
	}
}

func TestCutRulesMatchBothDirections(t *testing.T) {
	rules := CutRules(netip.MustParseAddr("10.99.0.12"))
	if len(rules) != 2 {
		t.Fatalf("%d rules, want 2 (from, to)", len(rules))
	}
	for i, off := range []uint32{12, 16} {
		p, ok := rules[i][2].(*expr.Payload)
		c, ok2 := rules[i][3].(*expr.Cmp)
		if !ok || !ok2 || p.Offset != off || p.Len != 4 || !reflect.DeepEqual(c.Data, []byte{10, 99, 0, 12}) {
			t.Errorf("rule %d: %+v %+v, want the address at offset %d", i, rules[i][2], rules[i][3], off)
		}
		if v, ok := rules[i][4].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
			t.Errorf("rule %d does not drop", i)
		}
	}
}
