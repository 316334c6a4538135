// Package examples holds example policy modules users can read, build and
// upload with `skiff policy push`; each is a package written against the SDK
// with a module/ directory that builds it for wasip1.
package examples
