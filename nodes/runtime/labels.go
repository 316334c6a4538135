package runtime

import (
	"context"
	"strconv"
	"time"

	"github.com/containerd/containerd/namespaces"
)

// Container labels skiff records; List returns them, so a restarted node
// daemon finds its pods' containers again.
const (
	LabelPodUID        = "skiff.sh/pod-uid"
	LabelPodNamespace  = "skiff.sh/pod-namespace"
	LabelPodName       = "skiff.sh/pod-name"
	LabelContainerName = "skiff.sh/container-name"
	LabelAttempt       = "skiff.sh/attempt"
	LabelLogPath       = "skiff.sh/log-path"
	LabelImageID       = "skiff.sh/image-id"
	LabelStopSignal    = "skiff.sh/stop-signal"
	LabelStartedAt     = "skiff.sh/started-at"
)

func withNamespace(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}

func (m Meta) labels() map[string]string {
	return map[string]string{
		LabelPodUID:        m.PodUID,
		LabelPodNamespace:  m.PodNamespace,
		LabelPodName:       m.PodName,
		LabelContainerName: m.ContainerName,
		LabelAttempt:       strconv.FormatUint(uint64(m.Attempt), 10),
	}
}

func metaFrom(labels map[string]string) Meta {
	a, _ := strconv.ParseUint(labels[LabelAttempt], 10, 32)
	return Meta{
		PodUID:        labels[LabelPodUID],
		PodNamespace:  labels[LabelPodNamespace],
		PodName:       labels[LabelPodName],
		ContainerName: labels[LabelContainerName],
		Attempt:       uint32(a),
	}
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
