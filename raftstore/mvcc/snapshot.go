package mvcc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// snapshotMagic starts every encoded state; the trailing byte is the format
// version, bumped on any change to the layout below.
const snapshotMagic = "skiff-mvcc\x01"

// maxEncodedBytes bounds any one length read from an encoded state, so a
// corrupt length cannot make the decoder allocate without limit.
const maxEncodedBytes = 64 << 20

// ErrCorrupt is returned when an encoded state cannot be decoded.
var ErrCorrupt = errors.New("mvcc: corrupt snapshot")

// Frozen is a point-in-time copy of a store taken in O(leases): the key tree
// is cloned copy-on-write, so the store may keep changing while a Frozen is
// written out.
type Frozen struct {
	keys       *btree.BTreeG[*keyRecord]
	rev        int64
	compactRev int64
	leases     [][2]int64 // ID, TTL, ordered by ID
}

// Freeze captures the current state. It is a read: it may run alongside
// other readers, and other Freezes, but not alongside a writer.
func (s *Store) Freeze() *Frozen {
	s.freezeMu.Lock()
	keys := s.keys.Clone()
	s.freezeMu.Unlock()
	f := &Frozen{keys: keys, rev: s.rev, compactRev: s.compactRev}
	for _, l := range s.Leases() {
		f.leases = append(f.leases, [2]int64{l.ID, l.TTL})
	}
	return f
}

// Rev is the revision the copy was taken at.
func (f *Frozen) Rev() int64 { return f.rev }

// WriteTo encodes the state. The encoding is deterministic: equal states give
// equal bytes.
func (f *Frozen) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: bufio.NewWriterSize(w, 256<<10)}
	var buf []byte
	buf = append(buf, snapshotMagic...)
	buf = binary.AppendVarint(buf, f.rev)
	buf = binary.AppendVarint(buf, f.compactRev)
	buf = binary.AppendUvarint(buf, uint64(len(f.leases)))
	for _, l := range f.leases {
		buf = binary.AppendVarint(buf, l[0])
		buf = binary.AppendVarint(buf, l[1])
	}
	buf = binary.AppendUvarint(buf, uint64(f.keys.Len()))
	var err error
	f.keys.Ascend(func(rec *keyRecord) bool {
		buf = binary.AppendUvarint(buf, uint64(len(rec.key)))
		buf = append(buf, rec.key...)
		buf = binary.AppendUvarint(buf, uint64(len(rec.versions)))
		for _, v := range rec.versions {
			buf = binary.AppendVarint(buf, v.sub)
			buf = binary.AppendVarint(buf, v.kv.CreateRevision)
			buf = binary.AppendVarint(buf, v.kv.ModRevision)
			buf = binary.AppendVarint(buf, v.kv.Version)
			buf = binary.AppendVarint(buf, v.kv.Lease)
			buf = binary.AppendUvarint(buf, uint64(len(v.kv.Value)))
			buf = append(buf, v.kv.Value...)
		}
		if len(buf) > 128<<10 {
			if _, err = cw.Write(buf); err != nil {
				return false
			}
			buf = buf[:0]
		}
		return true
	})
	if err != nil {
		return cw.n, fmt.Errorf("mvcc: write snapshot: %w", err)
	}
	if _, err := cw.Write(buf); err != nil {
		return cw.n, fmt.Errorf("mvcc: write snapshot: %w", err)
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		return cw.n, fmt.Errorf("mvcc: write snapshot: %w", err)
	}
	return cw.n, nil
}

// Hash is a digest of the whole replicated state: replicas that applied the
// same commands have the same hash.
func (f *Frozen) Hash() uint64 {
	h := fnv.New64a()
	_, _ = f.WriteTo(h)
	return h.Sum64()
}

// Hash is a digest of the store's replicated state (see Frozen.Hash).
func (s *Store) Hash() uint64 { return s.Freeze().Hash() }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Decode reads a state written by Frozen.WriteTo into a new store with the
// given quota. History for watches is rebuilt from the retained versions.
func Decode(r io.Reader, quota int64) (*Store, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 256<<10)}
	magic := d.bytes(len(snapshotMagic))
	if d.err == nil && string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad header %q", ErrCorrupt, magic)
	}
	s := New(quota)
	s.rev = d.varint()
	s.compactRev = d.varint()
	if d.err == nil && (s.rev < 1 || s.compactRev < 0 || s.compactRev > s.rev) {
		return nil, fmt.Errorf("%w: revision %d, compacted %d", ErrCorrupt, s.rev, s.compactRev)
	}
	nLeases := d.count()
	prevLease := int64(0)
	for i := uint64(0); i < nLeases && d.err == nil; i++ {
		id, ttl := d.varint(), d.varint()
		// WriteTo orders leases by ID; anything else would not re-encode
		// to the same bytes.
		if d.err == nil && id <= prevLease {
			return nil, fmt.Errorf("%w: lease %d out of order", ErrCorrupt, id)
		}
		prevLease = id
		s.leases[id] = &Lease{ID: id, TTL: ttl, keys: map[string]struct{}{}}
		s.size += versionOverhead
	}
	nKeys := d.count()
	prevKey := ""
	var nVersions int64
	for i := uint64(0); i < nKeys && d.err == nil; i++ {
		key := string(d.bytes(d.length()))
		if d.err == nil && (key == "" || (i > 0 && key <= prevKey)) {
			return nil, fmt.Errorf("%w: key %q out of order", ErrCorrupt, key)
		}
		prevKey = key
		rec := &keyRecord{key: key}
		nv := d.count()
		for j := uint64(0); j < nv && d.err == nil; j++ {
			sub := d.varint()
			kv := &mvccpb.KeyValue{Key: []byte(key), CreateRevision: d.varint(), ModRevision: d.varint(), Version: d.varint(), Lease: d.varint()}
			kv.Value = d.bytes(d.length())
			if d.err != nil {
				break
			}
			if kv.ModRevision < 1 || kv.ModRevision > s.rev || (j > 0 && kv.ModRevision < rec.versions[j-1].kv.ModRevision) {
				return nil, fmt.Errorf("%w: key %q version at revision %d", ErrCorrupt, key, kv.ModRevision)
			}
			if len(kv.Value) == 0 {
				kv.Value = nil
			}
			rec.versions = append(rec.versions, version{kv: kv, sub: sub})
			s.size += chargeOf(kv)
			nVersions++
		}
		if d.err == nil && len(rec.versions) == 0 {
			return nil, fmt.Errorf("%w: key %q has no versions", ErrCorrupt, key)
		}
		s.keys.ReplaceOrInsert(rec)
		if kv, live := rec.latest(); live && kv.Lease != 0 {
			l, ok := s.leases[kv.Lease]
			if !ok {
				return nil, fmt.Errorf("%w: key %q attached to unknown lease %d", ErrCorrupt, key, kv.Lease)
			}
			l.keys[key] = struct{}{}
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, d.err)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrCorrupt)
	}
	if err := s.rebuildHistory(nVersions); err != nil {
		return nil, err
	}
	return s, nil
}

// rebuildHistory derives the per-revision events from the retained versions
// (nVersions of them). Every revision the history covers was a write whose
// versions compaction keeps, so a revision without one means a corrupt state;
// checking that first also bounds what the history allocates.
func (s *Store) rebuildHistory(nVersions int64) error {
	s.histStart = max(s.compactRev, 2)
	n := s.rev - s.histStart + 1
	if n < 0 {
		n = 0
	}
	if n > nVersions {
		return fmt.Errorf("%w: revisions %d to %d hold %d versions", ErrCorrupt, s.histStart, s.rev, nVersions)
	}
	type subEvent struct {
		sub int64
		ev  *mvccpb.Event
	}
	byRev := make([][]subEvent, n)
	s.keys.Ascend(func(rec *keyRecord) bool {
		for i, v := range rec.versions {
			if v.kv.ModRevision < s.histStart {
				continue
			}
			ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: v.kv}
			if v.tombstone() {
				ev.Type = mvccpb.DELETE
			}
			if i > 0 && !rec.versions[i-1].tombstone() {
				ev.PrevKv = rec.versions[i-1].kv
			}
			idx := v.kv.ModRevision - s.histStart
			byRev[idx] = append(byRev[idx], subEvent{v.sub, ev})
		}
		return true
	})
	s.history = make([][]*mvccpb.Event, n)
	for i, evs := range byRev {
		if len(evs) == 0 {
			return fmt.Errorf("%w: no write at revision %d", ErrCorrupt, s.histStart+int64(i))
		}
		sort.Slice(evs, func(a, b int) bool { return evs[a].sub < evs[b].sub })
		out := make([]*mvccpb.Event, len(evs))
		for j, e := range evs {
			out[j] = e.ev
		}
		s.history[i] = out
	}
	return nil
}

type decoder struct {
	r   *bufio.Reader
	err error
}

// uvarint reads an unsigned varint in its shortest form, the only one
// WriteTo produces: binary.ReadUvarint also accepts padded forms (0x80 0x00
// for 0), which would decode a state that re-encodes to other bytes.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := d.r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			d.err = err
			return 0
		}
		if b < 0x80 {
			if i > 0 && b == 0 {
				d.err = errors.New("varint not in its shortest form")
				return 0
			}
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i)
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	d.err = errors.New("varint overflows 64 bits")
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) length() int {
	v := d.uvarint()
	if d.err == nil && v > maxEncodedBytes {
		d.err = fmt.Errorf("length %d over limit", v)
		return 0
	}
	return int(v)
}

// count reads a number of items; each item takes at least one byte, so the
// reader's remaining size bounds it only loosely — items are read one by one.
func (d *decoder) count() uint64 {
	return d.uvarint()
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n == 0 {
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	return b
}
