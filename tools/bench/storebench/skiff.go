package storebench

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// skiffSpecs describes a three-node Skiff store: `bin server` per node, its data
// in dir and its ports taken from ports (client ports first, then raft ports).
func skiffSpecs(bin, dir string, ports []int) ([]memberSpec, error) {
	if len(ports) != portsPerCluster {
		return nil, fmt.Errorf("storebench: skiff cluster needs %d ports, got %d", portsPerCluster, len(ports))
	}
	peers := make([]string, clusterSize)
	for i := range clusterSize {
		peers[i] = memberName(i) + "=" + hostPort(ports[clusterSize+i])
	}
	env := os.Environ()
	specs := make([]memberSpec, clusterSize)
	for i := range clusterSize {
		specs[i] = memberSpec{
			name:     memberName(i),
			endpoint: hostPort(ports[i]),
			dataDir:  filepath.Join(dir, memberName(i)),
			bin:      bin,
			env:      env,
			args: []string{
				"server",
				"--name", memberName(i),
				"--data-dir", filepath.Join(dir, memberName(i)),
				"--raft-addr", hostPort(ports[clusterSize+i]),
				"--client-addr", hostPort(ports[i]),
				"--api-addr", "127.0.0.1:0",
				"--serf-addr", "off", // three servers on one loopback; gossip is not measured
				"--peers", strings.Join(peers, ","),
			},
		}
	}
	return specs, nil
}

// startSkiff starts a three-node Skiff store under dir.
func startSkiff(bin, dir string, ports []int, log *slog.Logger) (*cluster, error) {
	specs, err := skiffSpecs(bin, dir, ports)
	if err != nil {
		return nil, err
	}
	return startCluster("skiff", dir, specs, log)
}
