package podlogs

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Stream names used in log entries.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// MaxLineSize is the longest content one entry carries; longer lines are split
// into partial (P) entries followed by a full (F) one, as containerd's CRI
// plugin does with its default max_container_log_line_size.
const MaxLineSize = 16 * 1024

// TimeFormat is the fixed-width timestamp written into log files. It parses as
// time.RFC3339Nano.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

const (
	tagFull    = 'F'
	tagPartial = 'P'
)

// ErrMalformed reports a log line that is not in the CRI format.
var ErrMalformed = errors.New("podlogs: malformed log line")

// Entry is one line of a log file.
type Entry struct {
	Time    time.Time
	Stream  string // Stdout or Stderr
	Partial bool   // the content continues in the next entry of the same stream
	Content []byte // without the trailing newline
}

// AppendEntry appends e in the file format, newline included, to dst.
func AppendEntry(dst []byte, e Entry) []byte {
	dst = e.Time.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, ' ')
	dst = append(dst, e.Stream...)
	dst = append(dst, ' ')
	if e.Partial {
		dst = append(dst, tagPartial)
	} else {
		dst = append(dst, tagFull)
	}
	dst = append(dst, ' ')
	dst = append(dst, e.Content...)
	return append(dst, '\n')
}

// ParseEntry parses one line (with or without its trailing newline). The
// returned Content aliases line.
func ParseEntry(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var e Entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no timestamp in %q", ErrMalformed, trim(line))
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: timestamp %q: %v", ErrMalformed, ts, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != Stdout && string(stream) != Stderr) {
		return e, fmt.Errorf("%w: stream in %q", ErrMalformed, trim(line))
	}
	tag, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "ts stream F" with empty content and no trailing space.
		tag, content = rest, nil
	}
	if len(tag) != 1 || (tag[0] != tagFull && tag[0] != tagPartial) {
		return e, fmt.Errorf("%w: tag %q", ErrMalformed, tag)
	}
	e.Time = t
	e.Stream = string(stream)
	e.Partial = tag[0] == tagPartial
	e.Content = content
	return e, nil
}

func trim(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
