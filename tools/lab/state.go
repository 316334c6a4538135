package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// ErrNotUp is returned by Load when a directory holds no lab.
var ErrNotUp = errors.New("lab: no lab recorded")

// ErrExists is returned by Up when the directory already holds a lab.
var ErrExists = errors.New("lab: a lab is already recorded")

const (
	stateFile    = "lab.json"
	stateVersion = 1
)

// VM is one lab VM: a named network namespace with eth0 on the bridge.
type VM struct {
	Name     string       `json:"name"`     // vm1…, or "reg"
	Netns    string       `json:"netns"`    // name under /run/netns
	HostVeth string       `json:"hostVeth"` // the veth end on the bridge
	Addr     netip.Prefix `json:"addr"`     // eth0's address and the lab prefix
	// NetnsIno identifies the namespace the lab made (its nsfs inode), so
	// the lab never deletes or kills into a namespace someone else named alike.
	NetnsIno uint64 `json:"netnsIno,omitempty"`
	// VethCreated says the lab made HostVeth.
	VethCreated bool `json:"vethCreated,omitempty"`
}

// NetnsPath is the namespace's bind mount, for nsenter --net= or ip netns.
func (v VM) NetnsPath() string { return filepath.Join(netnsDir, v.Netns) }

// State is what <Dir>/lab.json records: the plan, and which parts of it
// exist because this lab made them. Down removes only those.
type State struct {
	Version      int          `json:"version"`
	Config       Config       `json:"config"`
	Bridge       string       `json:"bridge"`
	BridgeAddr   netip.Prefix `json:"bridgeAddr"`
	VMs          []VM         `json:"vms"`
	RegistryAddr string       `json:"registryAddr,omitempty"`
	// BridgeCreated says the lab made Bridge.
	BridgeCreated bool `json:"bridgeCreated,omitempty"`
	// Routes are the unreachable routes the lab added to the root namespace
	// (ranges that already had one are not listed, and are left alone).
	Routes []netip.Prefix `json:"routes,omitempty"`
}

// statePath is where the lab in dir records itself.
func statePath(dir string) string { return filepath.Join(dir, stateFile) }

// readState reads dir's lab.json; ErrNotUp if there is none.
func readState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%w in %s", ErrNotUp, dir)
	}
	if err != nil {
		return s, fmt.Errorf("lab: reading %s: %w", statePath(dir), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("lab: decoding %s: %w", statePath(dir), err)
	}
	if s.Version != stateVersion {
		return s, fmt.Errorf("lab: %s has version %d, this skiff reads %d", statePath(dir), s.Version, stateVersion)
	}
	return s, nil
}

// writeState replaces dir's lab.json atomically.
func writeState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: encoding state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: creating %s: %w", dir, err)
	}
	tmp := statePath(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, statePath(dir)); err != nil {
		return fmt.Errorf("lab: replacing %s: %w", statePath(dir), err)
	}
	return nil
}
