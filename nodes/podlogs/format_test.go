package podlogs

import (
	"errors"
	"testing"
	"time"
)

func TestAppendParseEntry(t *testing.T) {
	ts := time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC)
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{"full stdout", Entry{Time: ts, Stream: Stdout, Content: []byte("text")}, "2016-10-06T00:17:09.669794202Z stdout F text\n"},
		{"partial stderr", Entry{Time: ts, Stream: Stderr, Partial: true, Content: []byte("a b")}, "2016-10-06T00:17:09.669794202Z stderr P a b\n"},
		{"empty line", Entry{Time: ts, Stream: Stdout}, "2016-10-06T00:17:09.669794202Z stdout F \n"},
		{"zero nanos fixed width", Entry{Time: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Stream: Stdout, Content: []byte("x")}, "2020-01-02T03:04:05.000000000Z stdout F x\n"},
		{"local time written as UTC", Entry{Time: ts.In(time.FixedZone("x", 3600)), Stream: Stdout, Content: []byte("y")}, "2016-10-06T00:17:09.669794202Z stdout F y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEntry(nil, tt.e))
			if got != tt.want {
				t.Fatalf("AppendEntry = %q, want %q", got, tt.want)
			}
			back, err := ParseEntry([]byte(got))
			if err != nil {
				t.Fatalf("ParseEntry(%q): %v", got, err)
			}
			if !back.Time.Equal(tt.e.Time) || back.Stream != tt.e.Stream || back.Partial != tt.e.Partial || string(back.Content) != string(tt.e.Content) {
				t.Fatalf("round trip = %+v, want %+v", back, tt.e)
			}
		})
	}
}

func TestParseEntryErrors(t *testing.T) {
	tests := []struct{ name, line string }{
		{"empty", ""},
		{"no stream", "2016-10-06T00:17:09.669794202Z"},
		{"bad time", "yesterday stdout F x"},
		{"bad stream", "2016-10-06T00:17:09Z stdin F x"},
		{"bad tag", "2016-10-06T00:17:09Z stdout X x"},
		{"long tag", "2016-10-06T00:17:09Z stdout FF x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseEntry([]byte(tt.line)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEntry(%q) error = %v, want ErrMalformed", tt.line, err)
			}
		})
	}
}

func TestParseEntryNoContentNoSpace(t *testing.T) {
	e, err := ParseEntry([]byte("2016-10-06T00:17:09Z stdout F"))
	if err != nil || len(e.Content) != 0 || e.Partial {
		t.Fatalf("ParseEntry = %+v, %v; want empty full entry", e, err)
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte("2016-10-06T00:17:09.669794202Z stdout F text"))
	f.Add([]byte("2016-10-06T00:17:09Z stderr P "))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses the same.
		again, err := ParseEntry(AppendEntry(nil, e))
		if err != nil {
			t.Fatalf("re-encoded entry does not parse: %v", err)
		}
		if again.Stream != e.Stream || again.Partial != e.Partial || string(again.Content) != string(e.Content) || !again.Time.Equal(e.Time) {
			t.Fatalf("round trip changed %+v to %+v", e, again)
		}
	})
}
