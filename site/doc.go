// Package site is reserved for Skiff's dashboard (see ../shared/design.md); it has no code yet.
package site
