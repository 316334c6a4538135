package storebench

import (
	"errors"
	"fmt"
	"net"
)

// loopback is the only address the benchmark ever binds or dials.
const loopback = "127.0.0.1"

// freePorts returns n distinct TCP ports on loopback that the kernel reported free.
// All n listeners are held open until every port is known, so the kernel cannot
// hand out the same port twice; a process may still take one before our servers
// bind it, which startup then reports as a failed member.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("storebench: pick a free port on %s: %w", loopback, err)
		}
		ls = append(ls, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("storebench: listener address is not TCP")
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}

// hostPort is loopback:port.
func hostPort(port int) string {
	return fmt.Sprintf("%s:%d", loopback, port)
}
