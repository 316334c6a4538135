// Package probe runs the kubelet's container probes — httpGet, tcpSocket and
// exec — and keeps each probe's verdict with Kubernetes' rules: an initial
// delay, a period, a timeout, and success and failure thresholds; readiness
// starts false, liveness and startup start true; liveness and readiness
// wait until the startup probe has succeeded.
//
// A Worker probes one container with one probe until it is stopped, and
// reports each change of verdict, so the pod's Ready condition follows a
// readiness verdict at once, and a failed liveness verdict restarts the
// container. The checks themselves are in Check, which knows nothing of
// workers or time.
package probe
