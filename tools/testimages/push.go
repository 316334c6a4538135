package testimages

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The image names users write, which the lab's registry mirrors.
const (
	HelloApp1Image = "gcr.io/google-samples/hello-app:1.0"
	HelloApp2Image = "gcr.io/google-samples/hello-app:2.0"
	TestboxImage   = "gcr.io/skiff/testbox:1"
)

// MirroredRegistry is the registry the lab's registry stands in for.
const MirroredRegistry = "gcr.io"

// LabImage is one image the lab's registry serves.
type LabImage struct {
	// Name is the reference users write, e.g. gcr.io/google-samples/hello-app:1.0.
	Name string
	// Repo and Tag are where it is stored in the mirror: containerd asks a
	// mirror for the repository path without the registry host.
	Repo, Tag string
	build     func(ctx context.Context, cacheDir string) (v1.Image, error)
}

// LabImages lists what PushLabImages pushes.
func LabImages() []LabImage {
	hello := func(version string) func(context.Context, string) (v1.Image, error) {
		return func(ctx context.Context, cacheDir string) (v1.Image, error) { return HelloApp(ctx, version, cacheDir) }
	}
	return []LabImage{
		{Name: HelloApp1Image, Repo: "google-samples/hello-app", Tag: "1.0", build: hello("1.0.0")},
		{Name: HelloApp2Image, Repo: "google-samples/hello-app", Tag: "2.0", build: hello("2.0.0")},
		{Name: TestboxImage, Repo: "skiff/testbox", Tag: "1", build: func(context.Context, string) (v1.Image, error) { return Testbox() }},
	}
}

// Push uploads img to registryHost (host:port, plain HTTP) as repo:tag.
// opts are passed to remote.Write after the defaults (context, a transport
// without proxy), so a caller can supply e.g. Registry.Transport.
func Push(ctx context.Context, registryHost, repo, tag string, img v1.Image, opts ...remote.Option) error {
	ref, err := name.NewTag(registryHost+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return fmt.Errorf("testimages: parsing reference %s/%s:%s: %w", registryHost, repo, tag, err)
	}
	all := append([]remote.Option{remote.WithContext(ctx), remote.WithTransport(noProxyTransport())}, opts...)
	if err := remote.Write(ref, img, all...); err != nil {
		return fmt.Errorf("testimages: pushing %s: %w", ref, err)
	}
	return nil
}

// PushLabImages builds every LabImages entry (hello-app binaries cached in
// cacheDir) and pushes it to registryHost under its mirror path.
func PushLabImages(ctx context.Context, registryHost, cacheDir string, opts ...remote.Option) error {
	for _, li := range LabImages() {
		img, err := li.build(ctx, cacheDir)
		if err != nil {
			return fmt.Errorf("testimages: building %s: %w", li.Name, err)
		}
		if err := Push(ctx, registryHost, li.Repo, li.Tag, img, opts...); err != nil {
			return fmt.Errorf("testimages: mirroring %s: %w", li.Name, err)
		}
	}
	return nil
}
