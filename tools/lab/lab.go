package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/tools/testimages"
)

// Lab is a lab that is up (or partly up), as recorded in its directory.
type Lab struct {
	logger *slog.Logger
	mu     sync.Mutex // serialises state writes
	state  State
}

// Up creates the lab cfg describes and records it in cfg.Dir/lab.json: the
// bridge, the unreachable routes, one namespace, veth and directory per VM,
// and (cfg.Registry) the registry VM with the lab images pushed. If any step
// fails, what was made is removed again. ErrExists if Dir holds a lab.
func Up(ctx context.Context, cfg Config, logger *slog.Logger) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(statePath(cfg.Dir)); err == nil {
		return nil, fmt.Errorf("%w in %s (run down first)", ErrExists, cfg.Dir)
	}
	s := plan(cfg)
	if err := checkFree(s); err != nil {
		return nil, err
	}
	l := &Lab{logger: orDiscard(logger), state: s}
	if err := l.save(); err != nil {
		return nil, err
	}
	if err := l.build(ctx); err != nil {
		l.logger.Error("lab up failed; removing what was made", "err", err)
		if derr := l.Down(context.WithoutCancel(ctx)); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("lab: cleaning up after the failed up: %w", derr))
		}
		return nil, err
	}
	l.logger.Info("lab up", "dir", cfg.Dir, "bridge", s.Bridge, "subnet", cfg.Subnet, "vms", len(s.VMs), "registry", s.RegistryAddr)
	return l, nil
}

// Load returns the lab recorded in dir, e.g. for `skiff lab down` in a
// later process. ErrNotUp if dir holds none. A nil logger discards logs.
func Load(dir string, logger *slog.Logger) (*Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: resolving %s: %w", dir, err)
	}
	s, err := readState(abs)
	if err != nil {
		return nil, err
	}
	return &Lab{logger: orDiscard(logger), state: s}, nil
}

// DownDir removes the lab recorded in dir, if there is one.
func DownDir(ctx context.Context, dir string, logger *slog.Logger) error {
	l, err := Load(dir, logger)
	if errors.Is(err, ErrNotUp) {
		return nil
	}
	if err != nil {
		return err
	}
	return l.Down(ctx)
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// save records the current state; call with the changes already made.
func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return writeState(l.state.Config.Dir, l.state)
}

// build makes everything in the plan, recording each piece as it appears.
func (l *Lab) build(ctx context.Context) error {
	s := &l.state
	created, err := createBridge(s.Bridge, s.BridgeAddr)
	if created {
		s.BridgeCreated = true
		if serr := l.save(); serr != nil {
			return errors.Join(err, serr)
		}
	}
	if err != nil {
		return err
	}
	for _, p := range s.Config.Blackhole {
		added, err := addUnreachable(p, BlackholeMetric(s.Config.Name))
		if added {
			s.Routes = append(s.Routes, p)
			if err := l.save(); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
	}
	for i := range s.VMs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lab: up: %w", err)
		}
		vm := &s.VMs[i]
		if err := os.MkdirAll(l.VMDir(vm.Name), 0o755); err != nil {
			return fmt.Errorf("lab: creating %s: %w", l.VMDir(vm.Name), err)
		}
		ino, err := createNetns(vm.Netns)
		if err != nil {
			return err
		}
		vm.NetnsIno = ino
		vm.VethCreated = true // recorded before the add: checkFree saw no such link
		if err := l.save(); err != nil {
			return err
		}
		if err := createVeth(*vm, s.Bridge); err != nil {
			return err
		}
		if err := setVMSysctls(*vm); err != nil {
			return err
		}
	}
	if s.Config.Registry {
		if err := l.startRegistry(ctx); err != nil {
			return err
		}
	}
	return nil
}

// registryProcess is the lab process name of the registry in the reg VM.
const registryProcess = "registry"

// startRegistry runs docker-registry in the reg VM, waits until it answers
// over the bridge and pushes the lab images into it.
func (l *Lab) startRegistry(ctx context.Context) error {
	rc := testimages.DefaultRegistryConfig()
	rc.Dir = filepath.Join(l.VMDir(RegistryVM), "registry")
	rc.Addr = l.state.RegistryAddr
	path, err := testimages.WriteRegistryConfig(rc)
	if err != nil {
		return err
	}
	if err := l.Start(ctx, RegistryVM, registryProcess, []string{rc.Binary, "serve", path}, nil); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	if err := testimages.WaitRegistry(waitCtx, client, rc.Addr); err != nil {
		return fmt.Errorf("lab: registry in %s (log %s): %w", RegistryVM, l.LogPath(RegistryVM, registryProcess), err)
	}
	l.logger.Info("lab registry up; pushing images", "addr", rc.Addr, "cache", l.state.Config.ImageCache)
	if err := testimages.PushLabImages(ctx, rc.Addr, l.state.Config.ImageCache); err != nil {
		return fmt.Errorf("lab: filling the registry: %w", err)
	}
	return nil
}

// Down stops every process of the lab (recorded ones first, then anything
// left in its namespaces or rooted under its directory), deletes its veths,
// namespaces, bridge and routes, unmounts whatever is mounted under its
// directory and removes the state it owns. It only touches what the record
// says the lab made, can be repeated, and works from any process (Load).
// If a step fails, it carries on and keeps lab.json so Down can be retried.
func (l *Lab) Down(ctx context.Context) error {
	s := l.state
	var errs []error
	for _, vm := range s.VMs {
		procs, err := l.Processes(vm.Name)
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range procs {
			if err := l.Terminate(ctx, vm.Name, p.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := l.sweep(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, vm := range s.VMs {
		if vm.VethCreated {
			// Deleting one end deletes the pair, synchronously; leaving it
			// to the namespace's (asynchronous) cleanup would let it linger.
			if err := deleteLink(vm.HostVeth, "veth"); err != nil {
				errs = append(errs, err)
			}
		}
		if vm.NetnsIno != 0 {
			if err := deleteNetns(vm); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.BridgeCreated {
		if err := deleteLink(s.Bridge, "bridge"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range s.Routes {
		if err := deleteUnreachable(p, BlackholeMetric(s.Config.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountUnder(s.Config.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := l.removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab: down %s (lab.json kept; run down again): %w", s.Config.Dir, errors.Join(errs...))
	}
	for _, vm := range s.VMs {
		if err := os.RemoveAll(l.VMDir(vm.Name)); err != nil {
			errs = append(errs, fmt.Errorf("lab: removing %s: %w", l.VMDir(vm.Name), err))
		}
	}
	if len(errs) == 0 {
		for _, f := range []string{l.KubeconfigPath(), filepath.Join(s.Config.Dir, "join-token")} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("lab: removing %s: %w", f, err))
			}
		}
		if err := os.Remove(statePath(s.Config.Dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("lab: removing %s: %w", statePath(s.Config.Dir), err))
		}
		_ = os.Remove(s.Config.Dir) // only if empty: the lab does not own the rest
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.logger.Info("lab down", "dir", s.Config.Dir)
	return nil
}

// Config is the lab's configuration, defaults filled in.
func (l *Lab) Config() Config { return l.state.Config }

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return l.state.Config.Dir }

// VMDir is the directory of the named VM (data, logs, pid files).
func (l *Lab) VMDir(vm string) string { return filepath.Join(l.state.Config.Dir, vm) }

// VMs lists the lab's VMs: vm1…vmN, then the registry VM if there is one.
func (l *Lab) VMs() []VM { return append([]VM(nil), l.state.VMs...) }

// VM returns the named VM.
func (l *Lab) VM(name string) (VM, error) {
	for _, vm := range l.state.VMs {
		if vm.Name == name {
			return vm, nil
		}
	}
	return VM{}, fmt.Errorf("lab: no VM %q in %s", name, l.state.Config.Dir)
}

// RegistryAddr is the registry's IP:port on the lab subnet (reachable from
// every VM and from the host over the bridge); "" without a registry. Use
// it as the mirror for gcr.io (testimages.MirroredRegistry), over plain HTTP.
func (l *Lab) RegistryAddr() string { return l.state.RegistryAddr }

// BridgeAddr is the host's address on the lab bridge, with the lab prefix.
func (l *Lab) BridgeAddr() string { return l.state.BridgeAddr.String() }
