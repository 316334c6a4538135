package storebench

import (
	"encoding/binary"
	"encoding/hex"
	"time"
)

// timestampLen is the size of a send timestamp at the start of a value: 16 hex
// digits of nanoseconds since the workload's base time.
const timestampLen = 16

// putStamp writes d into v[:timestampLen].
func putStamp(v []byte, d time.Duration) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(d))
	hex.Encode(v[:timestampLen], b[:])
}

// readStamp reads what putStamp wrote; ok is false if v holds no timestamp.
func readStamp(v []byte) (d time.Duration, ok bool) {
	if len(v) < timestampLen {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], v[:timestampLen]); err != nil {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint64(b[:])), true
}
