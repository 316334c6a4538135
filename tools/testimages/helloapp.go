package testimages

import (
	"context"
	"crypto/sha256"
	_ "embed" // hello-app's source
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// helloSrc is hello-app's whole source (standard library only), so the
// image can be built wherever a Go toolchain is, not only in this repository.
//
//go:embed helloapp/main.go
var helloSrc []byte

// HelloAppPort is the port hello-app listens on unless PORT is set.
const HelloAppPort = 8080

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// HelloApp returns the hello-app image answering with the given version
// (e.g. "1.0.0"): one layer holding the static binary /hello-app, entrypoint
// /hello-app, port 8080/tcp exposed, linux/amd64.
//
// The binary is built with the Go toolchain (CGO_ENABLED=0, -trimpath) into
// cacheDir and reused while the source and version are unchanged.
func HelloApp(ctx context.Context, version, cacheDir string) (v1.Image, error) {
	bin, err := buildHelloApp(ctx, version, cacheDir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("testimages: reading hello-app binary %s: %w", bin, err)
	}
	layer, err := layerOf([]entry{{path: "hello-app", mode: 0o755, data: data}})
	if err != nil {
		return nil, err
	}
	return imageOf(layer, v1.Config{
		Entrypoint:   []string{"/hello-app"},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", HelloAppPort): {}},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}

// helloAppKey names a build of hello-app: it changes with the source, the
// version and the target.
func helloAppKey(version string) string {
	h := sha256.New()
	fmt.Fprintf(h, "hello-app\x00%s\x00linux/amd64\x00", version)
	h.Write(helloSrc)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildHelloApp returns the path of the hello-app binary for version in
// cacheDir, building it if it is not there yet.
func buildHelloApp(ctx context.Context, version, cacheDir string) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("testimages: hello-app version %q: want letters, digits and ._+-", version)
	}
	if cacheDir == "" {
		return "", errors.New("testimages: building hello-app: no cache directory")
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("testimages: creating cache directory %s: %w", cacheDir, err)
	}
	out := filepath.Join(cacheDir, "hello-app-"+version+"-"+helloAppKey(version))
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		return out, nil
	} else if !errors.Is(err, fs.ErrNotExist) && err != nil {
		return "", fmt.Errorf("testimages: checking cached hello-app %s: %w", out, err)
	}

	goBin, err := goTool()
	if err != nil {
		return "", err
	}
	src, err := os.MkdirTemp(cacheDir, "hello-app-src-")
	if err != nil {
		return "", fmt.Errorf("testimages: creating build directory: %w", err)
	}
	defer os.RemoveAll(src)
	files := map[string][]byte{
		"main.go": helloSrc,
		"go.mod":  []byte("module hello-app\n\ngo 1.22\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return "", fmt.Errorf("testimages: writing hello-app %s: %w", name, err)
		}
	}
	tmp := filepath.Join(src, "hello-app")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+version, "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
		"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testimages: building hello-app %s with %s: %w\n%s", version, goBin, err, output)
	}
	// Rename is atomic: a concurrent build of the same key writes the same bytes.
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("testimages: storing hello-app binary in %s: %w", out, err)
	}
	return out, nil
}

// goTool finds the go command: on PATH, in $GOROOT/bin, or in /usr/local/go/bin.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	candidates := []string{"/usr/local/go/bin/go"}
	if root := os.Getenv("GOROOT"); root != "" {
		candidates = append([]string{filepath.Join(root, "bin", "go")}, candidates...)
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", errors.New("testimages: building hello-app: no go command on PATH, in $GOROOT/bin or /usr/local/go/bin")
}
