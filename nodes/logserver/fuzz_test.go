package logserver

import (
	"net/url"
	"testing"
)

// FuzzDecodeOptions: any query either fails to decode or yields options
// that validate.
func FuzzDecodeOptions(f *testing.F) {
	for _, q := range []string{"follow=true&tailLines=3", "tail=all", "sinceTime=2020-01-01T00:00:00Z&limitBytes=1", "stream=", "sinceSeconds=-1", "tail=x&previous=0"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		o, err := DecodeOptions(q)
		if err != nil {
			return
		}
		if err := ValidateOptions(o); err != nil {
			t.Fatalf("DecodeOptions(%q) accepted options that do not validate: %v", raw, err)
		}
	})
}
