// Package resources lists the REST resources Skiff serves and what is
// particular to each: store prefix, names for URLs and discovery,
// defaulting, validation, the spec/status split, field selectors and
// graceful deletion. One file per API group; the generic behaviour lives
// in control/registry.
package resources
