// Command skiff-container-logger writes one container's stdout and stderr
// to its log file (podlogs.LoggerMain). containerd's shim starts it for
// every container; it is small so that starting it costs little: `make
// build` embeds it in the skiff binary (package loggerbin), and the node
// daemon installs it in its data directory.
package main

import "github.com/skiff-sh/skiff/nodes/podlogs"

func main() { podlogs.LoggerMain() }
