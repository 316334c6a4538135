package podbench

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config configures a run. Start from DefaultConfig.
type Config struct {
	// Kubeconfig is the cluster's kubeconfig (the lab writes DIR/kubeconfig).
	Kubeconfig string
	// Pods is how many pods each round creates at once.
	Pods int
	// Rounds is how many times; the distributions cover all pods of all rounds.
	Rounds int
	// Namespace is the namespace the run creates and deletes afterwards; it must not exist.
	// Empty means "podbench-" and a random suffix.
	Namespace string
	// Image is the pods' image; the warm-up has it present on every node.
	Image string
	// Workers is how many goroutines send the creates of a round.
	Workers int
	// Timeout bounds one round (and the warm-up): creates to every pod Ready.
	Timeout time.Duration
	// EventWait bounds the wait for the nodes' events after the last pod is Ready.
	EventWait time.Duration
	// Goal is the p99 create->ready the verdict compares with.
	Goal   time.Duration
	Logger *slog.Logger
}

// DefaultImage is the lab's sample image (the lab's registry mirrors it).
const DefaultImage = "gcr.io/google-samples/hello-app:1.0"

// DefaultConfig is `skiff bench pods`' default: 30 pods, 3 rounds, against the lab in .data/lab.
func DefaultConfig() Config {
	return Config{
		Kubeconfig: ".data/lab/kubeconfig",
		Pods:       30,
		Rounds:     3,
		Image:      DefaultImage,
		Workers:    10,
		Timeout:    2 * time.Minute,
		EventWait:  15 * time.Second,
		Goal:       2 * time.Second,
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Kubeconfig == "" {
		errs = append(errs, errors.New("podbench: no kubeconfig"))
	}
	if c.Pods < 1 || c.Pods > 1000 {
		errs = append(errs, fmt.Errorf("podbench: pods %d: must be within [1, 1000]", c.Pods))
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		errs = append(errs, fmt.Errorf("podbench: rounds %d: must be within [1, 100]", c.Rounds))
	}
	if c.Namespace != "" {
		// Room for nothing else: pod names are short and fixed ("r1-p001").
		for _, msg := range validation.IsDNS1123Label(c.Namespace) {
			errs = append(errs, fmt.Errorf("podbench: namespace %q: %s", c.Namespace, msg))
		}
	}
	if c.Image == "" {
		errs = append(errs, errors.New("podbench: no image"))
	}
	if c.Workers < 1 || c.Workers > 200 {
		errs = append(errs, fmt.Errorf("podbench: workers %d: must be within [1, 200]", c.Workers))
	}
	if c.Timeout <= 0 || c.EventWait <= 0 || c.Goal <= 0 {
		errs = append(errs, errors.New("podbench: timeout, event wait and goal must be positive"))
	}
	return errors.Join(errs...)
}

// RegisterFlags registers the configuration on fs, with DefaultConfig as defaults.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := DefaultConfig()
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "the cluster's kubeconfig (skiff lab up writes DIR/kubeconfig)")
	fs.IntVar(&c.Pods, "pods", c.Pods, "pods created at once per round")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "rounds; the distributions cover all pods of all rounds")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "namespace to create and delete (must not exist; default podbench-<random>)")
	fs.StringVar(&c.Image, "image", c.Image, "the pods' image (made present on every node first)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "goroutines sending the creates")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on one round: creates to every pod Ready")
	fs.DurationVar(&c.EventWait, "event-wait", c.EventWait, "bound on waiting for the nodes' events after the last pod is Ready")
	fs.DurationVar(&c.Goal, "goal", c.Goal, "the p99 create->ready goal of the verdict")
	return &c
}
