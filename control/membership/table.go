package membership

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// tableTags are the tags WriteMembers shows, in this order.
var tableTags = []string{TagAPIAddr, TagRaftAddr, TagExpect, TagRaftState, TagNodeName, TagIP}

// WriteMembers writes the `skiff cluster members` table: one row per
// member sorted by name, with its gossip address, status, role and the
// tags of interest (API, raft, expect, raft_state, node, ip) as key=value.
func WriteMembers(w io.Writer, members []Member) error {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tROLE\tTAGS")
	for _, m := range ms {
		var tags []string
		for _, k := range tableTags {
			if v, ok := m.Tags[k]; ok && v != "" {
				tags = append(tags, k+"="+v)
			}
		}
		role := string(m.Role)
		if role == "" {
			role = "-"
		}
		tagText := strings.Join(tags, ",")
		if tagText == "" {
			tagText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, m.Status, role, tagText)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("membership: writing members table: %w", err)
	}
	return nil
}
