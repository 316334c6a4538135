// Package testimages builds the container images the lab and the integration
// tests run, and serves them from a real registry.
//
// The images are made from our own code with go-containerregistry, never
// pulled from the internet:
//
//   - hello-app (HelloApp): a static Go HTTP server answering
//     "Hello, world!\nVersion: …\nHostname: …\n", like
//     gcr.io/google-samples/hello-app; 1.0 and 2.0 differ only in version.
//   - testbox (Testbox): the host's static busybox with the usual applet links.
//
// The registry is Debian's docker-registry (StartRegistry), optionally started
// inside a network namespace. The lab uses it as a mirror for gcr.io:
// containerd asks a mirror for the repository path without the host, so
// gcr.io/google-samples/hello-app:1.0 is stored as google-samples/hello-app:1.0
// (PushLabImages, LabImages).
package testimages
