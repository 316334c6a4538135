package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/containerd/remotes/docker/config"
	"github.com/distribution/reference"
)

// PullPolicy says when to pull an image, as a container's imagePullPolicy.
type PullPolicy string

const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Errors callers turn into pod status reasons (ErrImagePull,
// ErrImageNeverPull, InvalidImageName).
var (
	ErrImagePull      = errors.New("runtime: image pull failed")
	ErrImageNeverPull = errors.New("runtime: image not present and pull policy is Never")
	ErrInvalidImage   = errors.New("runtime: invalid image name")
)

// ImageInfo describes an image ready to run.
type ImageInfo struct {
	// Ref is the normalized reference, e.g. "gcr.io/skiff-test/box:1" or
	// "docker.io/library/busybox:latest".
	Ref string
	// Digest is the digest of the manifest (or index) Ref resolved to.
	Digest string
	// ImageID is what Kubernetes shows as a container's imageID: the
	// repository at the digest, "gcr.io/skiff-test/box@sha256:…".
	ImageID string
	// Pulled says whether this call pulled it.
	Pulled bool
}

// NormalizeImage returns the full reference Kubernetes would use for an
// image name ("busybox" → "docker.io/library/busybox:latest").
func NormalizeImage(name string) (string, error) {
	named, err := reference.ParseDockerRef(name)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidImage, name, err)
	}
	return named.String(), nil
}

// DefaultPullPolicy is Kubernetes' default for an image: Always for :latest
// or no tag, IfNotPresent otherwise.
func DefaultPullPolicy(image string) PullPolicy {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return PullIfNotPresent
	}
	if _, ok := named.(reference.Digested); ok {
		return PullIfNotPresent
	}
	if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
		return PullIfNotPresent
	}
	return PullAlways
}

// EnsureImage makes image present and unpacked according to policy (empty:
// DefaultPullPolicy). Concurrent calls for one image pull it once.
func (r *Runtime) EnsureImage(ctx context.Context, image string, policy PullPolicy) (ImageInfo, error) {
	ctx = r.ns(ctx)
	ref, err := NormalizeImage(image)
	if err != nil {
		return ImageInfo{}, err
	}
	if policy == "" {
		policy = DefaultPullPolicy(image)
	}
	mu := r.pullLock(ref)
	mu.Lock()
	defer mu.Unlock()

	if policy != PullAlways {
		img, err := r.client.GetImage(ctx, ref)
		switch {
		case err == nil:
			if err := r.ensureUnpacked(ctx, img); err != nil {
				return ImageInfo{}, err
			}
			return imageInfo(img, false), nil
		case !errdefs.IsNotFound(err):
			return ImageInfo{}, fmt.Errorf("runtime: looking up image %s: %w", ref, err)
		case policy == PullNever:
			return ImageInfo{}, fmt.Errorf("%w: %s", ErrImageNeverPull, ref)
		}
	}
	img, err := r.client.Pull(ctx, ref,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.cfg.Snapshotter),
		containerd.WithResolver(r.resolver(ctx)))
	if err != nil {
		return ImageInfo{}, fmt.Errorf("%w: %s: %w", ErrImagePull, ref, err)
	}
	r.logger.Info("pulled image", "image", ref, "digest", img.Target().Digest.String())
	return imageInfo(img, true), nil
}

func (r *Runtime) pullLock(ref string) *sync.Mutex {
	r.pullMu.Lock()
	defer r.pullMu.Unlock()
	mu, ok := r.pulls[ref]
	if !ok {
		mu = &sync.Mutex{}
		r.pulls[ref] = mu
	}
	return mu
}

func (r *Runtime) ensureUnpacked(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("runtime: checking unpack of %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
		return fmt.Errorf("runtime: unpacking %s: %w", img.Name(), err)
	}
	return nil
}

// resolver resolves through the hosts directory. The client pulls, so the
// daemon's own registry settings do not apply.
func (r *Runtime) resolver(ctx context.Context) remotes.Resolver {
	opts := config.HostOptions{}
	if r.cfg.HostsDir != "" {
		opts.HostDir = config.HostDirFromRoot(r.cfg.HostsDir)
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: config.ConfigureHosts(ctx, opts)})
}

func imageInfo(img containerd.Image, pulled bool) ImageInfo {
	info := ImageInfo{Ref: img.Name(), Digest: img.Target().Digest.String(), Pulled: pulled}
	info.ImageID = imageID(info.Ref, info.Digest)
	return info
}

func imageID(ref, digest string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return digest
	}
	return named.Name() + "@" + digest
}

// WriteMirrorHosts writes <dir>/<name>/hosts.toml for each registry name
// (e.g. "gcr.io", "docker.io") so that images named there are pulled from
// registryHost ("127.0.0.1:5000") instead, over plain HTTP when http is set.
// Pass dir as Config.HostsDir.
func WriteMirrorHosts(dir, registryHost string, http bool, names ...string) error {
	if registryHost == "" || strings.ContainsAny(registryHost, "/\"\n ") {
		return fmt.Errorf("runtime: mirror host %q must be host[:port]", registryHost)
	}
	scheme := "https"
	if http {
		scheme = "http"
	}
	server := (&url.URL{Scheme: scheme, Host: registryHost}).String()
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, "/\\\"\n ") || name == "." || name == ".." {
			return fmt.Errorf("runtime: registry name %q is not a host name", name)
		}
		content := fmt.Sprintf("# Written by skiff: images named %s/... are pulled from %s.\nserver = %q\n", name, server, server)
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("runtime: creating hosts dir for %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(content), 0o644); err != nil {
			return fmt.Errorf("runtime: writing hosts.toml for %s: %w", name, err)
		}
	}
	return nil
}
