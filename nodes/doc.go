// Package nodes is reserved for Skiff's node daemon (see ../shared/design.md); it has no code yet.
package nodes
