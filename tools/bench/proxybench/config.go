package proxybench

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/skiff-sh/skiff/tools/bench/benchflag"
)

// Config configures a run. Start from DefaultConfig.
type Config struct {
	// Services are the sizes, run in order; the final line reports the largest.
	Services []int
	// Endpoints is the number of endpoints of every service.
	Endpoints int
	// NFT is the nft binary of the anchor.
	NFT    string
	Logger *slog.Logger
}

// DefaultConfig is `skiff bench proxy`'s default.
func DefaultConfig() Config {
	return Config{Services: []int{1000, 10000}, Endpoints: 3, NFT: "nft"}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if len(c.Services) == 0 {
		errs = append(errs, errors.New("proxybench: no service counts"))
	}
	for _, n := range c.Services {
		if n < 1 || n > 500000 {
			errs = append(errs, fmt.Errorf("proxybench: service count %d: must be within [1, 500000]", n))
		}
	}
	if c.Endpoints < 1 || c.Endpoints > 100 {
		errs = append(errs, fmt.Errorf("proxybench: endpoints %d: must be within [1, 100]", c.Endpoints))
	}
	if c.NFT == "" {
		errs = append(errs, errors.New("proxybench: no nft binary"))
	}
	return errors.Join(errs...)
}

// RegisterFlags registers the configuration on fs, with DefaultConfig as defaults.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := DefaultConfig()
	fs.Var((*benchflag.Ints)(&c.Services), "services", "comma-separated service counts; the final line reports the largest")
	fs.IntVar(&c.Endpoints, "endpoints", c.Endpoints, "endpoints per service")
	fs.StringVar(&c.NFT, "nft", c.NFT, "nft binary of the anchor")
	return &c
}
