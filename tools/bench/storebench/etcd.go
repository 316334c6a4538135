package storebench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// clusterSize is the number of members of each cluster.
const clusterSize = 3

// portsPerCluster is a client and a peer port per member.
const portsPerCluster = 2 * clusterSize

// etcdSpecs describes a new three-member etcd cluster with default settings, its
// data in dir and its ports taken from ports (client ports first, then peer ports).
func etcdSpecs(bin, dir string, ports []int) ([]memberSpec, error) {
	if len(ports) != portsPerCluster {
		return nil, fmt.Errorf("storebench: etcd cluster needs %d ports, got %d", portsPerCluster, len(ports))
	}
	token, err := clusterToken()
	if err != nil {
		return nil, err
	}
	peerURL := func(i int) string { return "http://" + hostPort(ports[clusterSize+i]) }
	initial := make([]string, clusterSize)
	for i := range clusterSize {
		initial[i] = memberName(i) + "=" + peerURL(i)
	}
	env := environWithout("ETCD_") // etcd reads ETCD_* variables as flags
	specs := make([]memberSpec, clusterSize)
	for i := range clusterSize {
		clientURL := "http://" + hostPort(ports[i])
		specs[i] = memberSpec{
			name:     memberName(i),
			endpoint: hostPort(ports[i]),
			dataDir:  filepath.Join(dir, memberName(i)),
			bin:      bin,
			env:      env,
			args: []string{
				"--name", memberName(i),
				"--data-dir", filepath.Join(dir, memberName(i)),
				"--listen-client-urls", clientURL,
				"--advertise-client-urls", clientURL,
				"--listen-peer-urls", peerURL(i),
				"--initial-advertise-peer-urls", peerURL(i),
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-state", "new",
				"--initial-cluster-token", token,
			},
		}
	}
	return specs, nil
}

// startEtcd starts a three-member etcd cluster under dir.
func startEtcd(bin, dir string, ports []int, log *slog.Logger) (*cluster, error) {
	specs, err := etcdSpecs(bin, dir, ports)
	if err != nil {
		return nil, err
	}
	return startCluster("etcd", dir, specs, log)
}

func memberName(i int) string { return fmt.Sprintf("n%d", i+1) }

// clusterToken is unique per run, so members of two runs can never join up.
func clusterToken() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("storebench: cluster token: %w", err)
	}
	return "storebench-" + hex.EncodeToString(b), nil
}

// environWithout returns this process's environment minus variables with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
