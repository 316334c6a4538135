package trace

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/nodes/agent"
	"github.com/skiff-sh/skiff/nodes/podsync"
)

// Event reasons and sources that the node side records for the timeline.
const (
	// ReasonSandboxReady is the node daemon's (component "kubelet", host = node name) Normal
	// event on a pod once its network namespace and veth are wired; its message is
	// SandboxReadyMessage.
	ReasonSandboxReady = podsync.ReasonSandboxReady
	// ReasonProxyProgrammed is the proxy's Normal event on a Service once a node's nftables
	// rules for it are programmed; source component ComponentProxy, host = node name, message
	// ProxyProgrammedMessage.
	ReasonProxyProgrammed = agent.ReasonProxyProgrammed
	// ComponentProxy is the event source component of the node proxy.
	ComponentProxy = agent.ProxyComponent
	// ComponentKubelet is the event source component of the node daemon, as in Kubernetes.
	ComponentKubelet = "kubelet"
)

// SandboxReadyMessage is the message of a ReasonSandboxReady event, for example
// "pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth 12ms)"; took is how long
// creating the network namespace and the veth pair took.
func SandboxReadyMessage(ip, veth string, took time.Duration) string {
	return fmt.Sprintf("pod network ready: IP %s on veth %s (netns+veth %s)", ip, veth, roundDuration(took))
}

// ProxyProgrammedMessage is the message of a ReasonProxyProgrammed event, for example
// "rules for 3 endpoints programmed in 4ms".
func ProxyProgrammedMessage(endpoints int, took time.Duration) string {
	return fmt.Sprintf("rules for %d endpoints programmed in %s", endpoints, roundDuration(took))
}

// roundDuration keeps a duration readable: milliseconds, or microseconds below one.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

var (
	reSandbox      = regexp.MustCompile(`IP (\S+) on veth (\S+) \(netns\+veth ([^)]+)\)`)
	rePulled       = regexp.MustCompile(`Successfully pulled image "([^"]*)" in ([^\s(]+)`)
	rePresent      = regexp.MustCompile(`image "([^"]*)" already present`)
	reScheduled    = regexp.MustCompile(`to (\S+)$`)
	reCreatedPod   = regexp.MustCompile(`^Created pod: (\S+)$`)
	reDeletedPod   = regexp.MustCompile(`^Deleted pod: (\S+)$`)
	reContainerRef = regexp.MustCompile(`^spec\.(?:init|ephemeral)?[cC]ontainers\{(.+)\}$`)
)

// eventTime is when ev happened and whether that is known to the second only. eventTime
// (microseconds) wins; then the time encoded in the event's name by every recorder Skiff runs
// ("<object>.<hex UnixNano>"), accepted only when it agrees with firstTimestamp; then
// firstTimestamp, lastTimestamp, creationTimestamp.
func eventTime(ev *corev1.Event) (time.Time, bool) {
	if !ev.EventTime.IsZero() {
		return ev.EventTime.UTC(), false
	}
	stamp := ev.FirstTimestamp.Time
	if stamp.IsZero() {
		stamp = ev.LastTimestamp.Time
	}
	if stamp.IsZero() {
		stamp = ev.CreationTimestamp.Time
	}
	if stamp.IsZero() {
		return time.Time{}, true
	}
	if nt, ok := nameTime(ev.Name); ok && !nt.Before(stamp.Add(-time.Second)) && nt.Before(stamp.Add(2*time.Second)) {
		return nt, false
	}
	return stamp.UTC(), true
}

// nameTime decodes the hex UnixNano suffix of an event name.
func nameTime(name string) (time.Time, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(name[i+1:], 16, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n).UTC(), true
}

// container names the container an event's fieldPath points at, or "".
func container(ref corev1.ObjectReference) string {
	if m := reContainerRef.FindStringSubmatch(ref.FieldPath); m != nil {
		return m[1]
	}
	return ""
}

// pulledDetail condenses a Pulled message to "IMAGE in 1.2s" or "IMAGE present".
func pulledDetail(msg string) string {
	if m := rePulled.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s in %s", m[1], m[2])
	}
	if m := rePresent.FindStringSubmatch(msg); m != nil {
		return m[1] + " present"
	}
	return msg
}

// sandboxDetail condenses a SandboxReady message to "IP 10.244.1.5, veth skX (12ms)".
func sandboxDetail(msg string) string {
	if m := reSandbox.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("IP %s, veth %s (%s)", m[1], m[2], m[3])
	}
	return msg
}
