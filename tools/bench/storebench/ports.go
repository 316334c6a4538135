package storebench

import (
	"fmt"

	"github.com/skiff-sh/skiff/tools/bench/proc"
)

// loopback is the only address the benchmark ever binds or dials.
const loopback = proc.Loopback

// freePorts returns n distinct TCP ports on loopback that the kernel reported free.
func freePorts(n int) ([]int, error) {
	ports, err := proc.FreePorts(n)
	if err != nil {
		return nil, fmt.Errorf("storebench: %w", err)
	}
	return ports, nil
}

// hostPort is loopback:port.
func hostPort(port int) string {
	return fmt.Sprintf("%s:%d", loopback, port)
}
