package testimages

import (
	"debug/elf"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BusyboxPath is where Debian's busybox-static package puts the static busybox.
const BusyboxPath = "/bin/busybox"

// TestboxApplets are the commands the testbox image links to /bin/busybox.
var TestboxApplets = []string{
	"[", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dd", "df", "dirname",
	"du", "echo", "env", "expr", "false", "find", "grep", "head", "hostname", "id",
	"ip", "kill", "ln", "ls", "mkdir", "mv", "nc", "netstat", "nslookup", "ping",
	"printf", "ps", "pwd", "rm", "rmdir", "sed", "seq", "sh", "sleep", "sort",
	"stat", "tail", "tee", "test", "timeout", "touch", "tr", "true", "uname", "uptime",
	"wc", "wget", "which", "xargs", "yes", "httpd",
}

// Testbox returns the testbox image: the host's static busybox as
// /bin/busybox with TestboxApplets linked to it in /bin, /tmp, and an
// /etc/passwd naming root and nobody; linux/amd64, command /bin/sh.
func Testbox() (v1.Image, error) {
	data, err := readStatic(BusyboxPath)
	if err != nil {
		return nil, err
	}
	entries := []entry{
		{path: "bin", mode: 0o755, dir: true},
		{path: "bin/busybox", mode: 0o755, data: data},
	}
	for _, a := range TestboxApplets {
		entries = append(entries, entry{path: "bin/" + a, mode: 0o777, linkname: "busybox"})
	}
	entries = append(entries,
		entry{path: "etc", mode: 0o755, dir: true},
		entry{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		entry{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		entry{path: "root", mode: 0o700, dir: true},
		entry{path: "tmp", mode: 0o1777, dir: true},
	)
	layer, err := layerOf(entries)
	if err != nil {
		return nil, err
	}
	return imageOf(layer, v1.Config{
		Cmd: []string{"/bin/sh"},
		Env: []string{"PATH=/bin"},
	})
}

// readStatic reads an executable and checks that it is statically linked
// (an ELF without an interpreter), so it runs in an otherwise empty image.
func readStatic(path string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testimages: opening %s (install busybox-static): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("testimages: %s is dynamically linked; the testbox needs busybox-static", path)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testimages: reading %s: %w", path, err)
	}
	return data, nil
}
