// Package runtime runs a node's containers on containerd: it starts (or adopts)
// the node's own containerd daemon, pulls images through a registry hosts
// directory, creates containers from Kubernetes-style specs (command/args,
// env, resources, network namespace, cgroup parent), starts, stops, execs
// into and deletes them, lists them for adoption after a restart, and
// reports their exits.
//
// It talks to containerd with the 1.7 Go client; the daemon is Debian's
// containerd 1.6 with runc. Everything lives in one containerd namespace
// (Config.Namespace, "skiff" by default); what a pod needs to be found again
// after a restart is kept in container labels (see the Label constants).
//
// Container output goes to a per-container CRI-format log file written by a
// logging binary the shim runs (podlogs.LoggerMain), so logging carries on
// while the node daemon is down; without one, the shim writes the raw output
// to the file (cio.LogFile).
package runtime
