package apiserver

import (
	"mime"
	"sort"
	"strconv"
	"strings"
)

// Media types Skiff reads and writes.
const (
	mediaJSON           = "application/json"
	mediaYAML           = "application/yaml"
	mediaProtobuf       = "application/vnd.kubernetes.protobuf"
	mediaJSONPatch      = "application/json-patch+json"
	mediaMergePatch     = "application/merge-patch+json"
	mediaStrategicPatch = "application/strategic-merge-patch+json"
	mediaApplyPatch     = "application/apply-patch+yaml"
)

// outputKind is what the client asked the response body to be.
type outputKind int

const (
	outputObject   outputKind = iota // the object or list itself
	outputTable                      // meta.k8s.io Table
	outputMetadata                   // meta.k8s.io PartialObjectMetadata(List)
)

// output is a negotiated response format.
type output struct {
	mediaType string // mediaJSON, mediaYAML or mediaProtobuf
	kind      outputKind
	// version of the meta.k8s.io kind for Table and metadata ("v1", "v1beta1").
	version string
	pretty  bool
}

// negotiateOutput picks the response format from the Accept header: the
// first acceptable clause by quality, in the client's order. It reports
// false when nothing acceptable is served (406).
func negotiateOutput(accept string, allowProtobuf bool) (output, bool) {
	if strings.TrimSpace(accept) == "" {
		return output{mediaType: mediaJSON}, true
	}
	type clause struct {
		typ    string
		params map[string]string
		q      float64
		i      int
	}
	var clauses []clause
	for i, part := range strings.Split(accept, ",") {
		typ, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		clauses = append(clauses, clause{typ, params, q, i})
	}
	sort.SliceStable(clauses, func(a, b int) bool { return clauses[a].q > clauses[b].q })
	for _, c := range clauses {
		if c.q <= 0 {
			continue
		}
		var out output
		switch c.typ {
		case mediaJSON, "application/*", "*/*":
			out.mediaType = mediaJSON
		case mediaYAML:
			out.mediaType = mediaYAML
		case mediaProtobuf:
			if !allowProtobuf {
				continue
			}
			out.mediaType = mediaProtobuf
		default:
			continue
		}
		out.pretty = c.params["pretty"] == "1" || c.params["pretty"] == "true"
		if as := c.params["as"]; as != "" {
			if out.mediaType == mediaProtobuf {
				continue // Tables and metadata are served as JSON or YAML
			}
			if c.params["g"] != "meta.k8s.io" || (c.params["v"] != "v1" && c.params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table":
				out.kind = outputTable
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				out.kind = outputMetadata
			default:
				continue
			}
			out.version = c.params["v"]
		}
		return out, true
	}
	return output{}, false
}
