package lab

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Faults on a server's data, for tools/chaos: damage to its raft log or
// snapshots while it is stopped, and a full disk under it. Both act only
// under the lab's directory: the disk that fills is a tmpfs the lab mounts
// on the server's directory (MountDataDisk), which down unmounts with every
// other mount under the lab.

// ServerDir is the data directory of the VM's server: its raft log
// (raft.db) and snapshots (snapshots/), and its node's data (node/).
func (l *Lab) ServerDir(vm string) string { return filepath.Join(l.VMDir(vm), "server") }

// The raft files a server keeps in its data directory (raftstore).
const (
	raftLogFile  = "raft.db"
	snapshotsDir = "snapshots"
	fillFile     = "chaos-fill"
)

// serverRunning reports whether the VM's skiff process runs.
func (l *Lab) serverRunning(vm string) (bool, error) {
	ps, err := l.Processes(vm)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Name == "skiff" && p.Running {
			return true, nil
		}
	}
	return false, nil
}

// stoppedServerDir is the VM's server directory, if its server is stopped.
func (l *Lab) stoppedServerDir(vm, doing string) (string, error) {
	if _, err := l.VM(vm); err != nil {
		return "", err
	}
	running, err := l.serverRunning(vm)
	if err != nil {
		return "", err
	}
	if running {
		return "", fmt.Errorf("lab: %s in %s: its skiff runs; stop it first", doing, vm)
	}
	return l.ServerDir(vm), nil
}

// Damage is what CorruptRaft did to one file.
type Damage struct {
	File     string `json:"file"`     // relative to the server directory
	Size     int64  `json:"size"`     // its length before
	Truncate bool   `json:"truncate"` // cut to Offset bytes; else bit Bit of byte Offset flipped
	Offset   int64  `json:"offset"`
	Bit      uint   `json:"bit"`
}

func (d Damage) String() string {
	if d.Truncate {
		return fmt.Sprintf("truncated %s from %d to %d bytes", d.File, d.Size, d.Offset)
	}
	return fmt.Sprintf("flipped bit %d of byte %d of %s (%d bytes)", d.Bit, d.Offset, d.File, d.Size)
}

// CorruptRaft damages the raft data of the VM's server, which must be
// stopped: as pick chooses, a bit flipped in or a truncation of its newest
// snapshot or its raft log (CorruptRaftData).
func (l *Lab) CorruptRaft(vm string, pick uint64) (Damage, error) {
	dir, err := l.stoppedServerDir(vm, "damaging the raft data")
	if err != nil {
		return Damage{}, err
	}
	return CorruptRaftData(dir, pick)
}

// CorruptRaftData damages one file of the raft data in dir, as pick
// chooses (the same pick, the same damage to the same files): pick%4 is a
// bit flipped in the newest snapshot's state, its truncation, a bit
// flipped in raft.db past its two meta pages, or raft.db's truncation to
// between a quarter and three quarters of its length. Without a snapshot
// raft.db is damaged instead. On error nothing was changed.
func CorruptRaftData(dir string, pick uint64) (Damage, error) {
	rng := rand.New(rand.NewPCG(pick, 0x636f7272757074))
	mode := pick % 4
	file := ""
	if mode < 2 {
		snap, err := newestSnapshot(filepath.Join(dir, snapshotsDir))
		if err != nil {
			return Damage{}, err
		}
		if snap != "" {
			file = filepath.Join(snapshotsDir, snap, "state.bin")
		} else {
			mode += 2 // no snapshot yet: the log
		}
	}
	if file == "" {
		file = raftLogFile
	}
	path := filepath.Join(dir, file)
	st, err := os.Stat(path)
	if err != nil {
		return Damage{}, fmt.Errorf("lab: damaging raft data: %w", err)
	}
	d := Damage{File: file, Size: st.Size()}
	skip := int64(0)
	if file == raftLogFile {
		skip = 2 * 4096 // bbolt's meta pages are checksummed; damage the data
	}
	if d.Size <= skip+1 {
		return Damage{}, fmt.Errorf("lab: damaging raft data: %s has only %d bytes", path, d.Size)
	}
	switch mode {
	case 1, 3:
		d.Truncate = true
		d.Offset = d.Size/4 + rng.Int64N(d.Size/2+1)
		if err := os.Truncate(path, d.Offset); err != nil {
			return Damage{}, fmt.Errorf("lab: truncating %s: %w", path, err)
		}
	default:
		d.Offset = skip + rng.Int64N(d.Size-skip)
		d.Bit = uint(rng.IntN(8))
		if err := flipBit(path, d.Offset, d.Bit); err != nil {
			return Damage{}, err
		}
	}
	return d, nil
}

// flipBit flips one bit of the file in place.
func flipBit(path string, off int64, bit uint) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("lab: flipping a bit in %s: %w", path, err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("lab: reading byte %d of %s: %w", off, path, err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b[:], off); err != nil {
		return fmt.Errorf("lab: writing byte %d of %s: %w", off, path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("lab: syncing %s: %w", path, err)
	}
	return nil
}

// newestSnapshot names the newest complete snapshot in dir (raft's file
// snapshot store: "<term>-<index>-<ms>", in-progress ones end in ".tmp"),
// or "" if there is none.
func newestSnapshot(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lab: listing snapshots: %w", err)
	}
	best, bestKey := "", [3]uint64{}
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if !e.IsDir() || len(parts) != 3 {
			continue
		}
		var key [3]uint64
		ok := true
		for i, p := range parts {
			if key[i], err = strconv.ParseUint(p, 10, 64); err != nil {
				ok = false
			}
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "state.bin")); !ok || err != nil {
			continue
		}
		if best == "" || key[0] > bestKey[0] || key[0] == bestKey[0] && (key[1] > bestKey[1] || key[1] == bestKey[1] && key[2] > bestKey[2]) {
			best, bestKey = e.Name(), key
		}
	}
	return best, nil
}

// WipeRaft removes the raft data of the VM's server, which must be
// stopped, so that it rejoins from its peers when it starts (they still
// count it a member; the leader sends it a snapshot). Its node's data and
// everything else in its directory stay.
func (l *Lab) WipeRaft(vm string) error {
	dir, err := l.stoppedServerDir(vm, "wiping the raft data")
	if err != nil {
		return err
	}
	return WipeRaftData(dir)
}

// WipeRaftData removes raft.db and snapshots/ from dir, nothing else.
func WipeRaftData(dir string) error {
	var errs []error
	for _, p := range []string{raftLogFile, snapshotsDir} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			errs = append(errs, fmt.Errorf("lab: wiping raft data: %w", err))
		}
	}
	return errors.Join(errs...)
}

// MountDataDisk mounts a tmpfs of size bytes on the VM's server directory,
// so that a chaos run can fill it (FillDisk) without touching the host's
// disks. Call it before the server first starts: an existing non-empty
// directory is refused (the mount would hide its data). Mounting an
// already mounted disk is a no-op. Down unmounts it.
func (l *Lab) MountDataDisk(vm string, size int64) error {
	if _, err := l.VM(vm); err != nil {
		return err
	}
	if vm == RegistryVM {
		return fmt.Errorf("lab: the %s VM runs no server", RegistryVM)
	}
	if size < 1<<20 {
		return fmt.Errorf("lab: a data disk of %d bytes is too small", size)
	}
	dir := l.ServerDir(vm)
	if l.DataDiskMounted(vm) {
		return nil
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("lab: %s holds data already; mount its disk before the server first starts", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("lab: creating %s: %w", dir, err)
	}
	if err := unix.Mount("skiff-lab-"+vm, dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return fmt.Errorf("lab: mounting a %d-byte tmpfs on %s: %w", size, dir, err)
	}
	return nil
}

// DataDiskMounted reports whether the VM's server directory is a mount
// of its own (MountDataDisk).
func (l *Lab) DataDiskMounted(vm string) bool {
	var st, parent unix.Stat_t
	dir := l.ServerDir(vm)
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// FillDisk fills the VM's data disk (MountDataDisk; refused without one,
// so the host's disk is never filled) with a file until no byte is free,
// and returns how many bytes it took.
func (l *Lab) FillDisk(vm string) (int64, error) {
	if _, err := l.VM(vm); err != nil {
		return 0, err
	}
	if !l.DataDiskMounted(vm) {
		return 0, fmt.Errorf("lab: %s has no data disk of its own to fill (MountDataDisk before the server starts)", vm)
	}
	path := filepath.Join(l.ServerDir(vm), fillFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("lab: filling %s: %w", vm, err)
	}
	defer f.Close()
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return 0, fmt.Errorf("lab: statfs of %s's disk: %w", vm, err)
	}
	st, _ := f.Stat()
	start := st.Size()
	if free := int64(sfs.Bavail) * sfs.Bsize; free > 0 {
		// Most of it at once; a racing writer may take some meanwhile.
		_ = unix.Fallocate(int(f.Fd()), 0, start, free)
	}
	buf := make([]byte, 64<<10)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, unix.ENOSPC) {
			if len(buf) == 1 {
				break
			}
			buf = buf[:len(buf)/2]
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("lab: filling %s: %w", vm, err)
		}
	}
	st, err = f.Stat()
	if err != nil {
		return 0, fmt.Errorf("lab: filling %s: %w", vm, err)
	}
	return st.Size() - start, nil
}

// FreeDisk removes what FillDisk wrote.
func (l *Lab) FreeDisk(vm string) error {
	if _, err := l.VM(vm); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(l.ServerDir(vm), fillFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: freeing %s's disk: %w", vm, err)
	}
	return nil
}
