package apibench

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr []string // substrings; none means valid
	}{
		{name: "defaults", change: func(*Options) {}},
		{name: "one pod one worker", change: func(o *Options) { o.Pods, o.Workers = 1, 1 }},
		{name: "no pods", change: func(o *Options) { o.Pods = 0 }, wantErr: []string{"pods 0"}},
		{name: "too many pods", change: func(o *Options) { o.Pods = maxPods + 1 }, wantErr: []string{"pods 1000001"}},
		{name: "no workers", change: func(o *Options) { o.Workers = 0 }, wantErr: []string{"workers 0"}},
		{name: "profile without seconds", change: func(o *Options) { o.PprofDir, o.PprofSeconds = "/tmp/x", 0 }, wantErr: []string{"pprof seconds 0"}},
		{name: "seconds without profile are ignored", change: func(o *Options) { o.PprofSeconds = 0 }},
		{
			name:    "every timeout",
			change:  func(o *Options) { o.StartTimeout, o.OpTimeout, o.WatchTimeout = 0, -time.Second, 0 },
			wantErr: []string{"start timeout 0s", "op timeout -1s", "watch timeout 0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.change(&o)
			err := o.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %v, want it to mention %q", err, want)
				}
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := RegisterFlags(fs)
	if o.Pods != 10000 || o.Workers != 32 {
		t.Errorf("defaults: pods %d workers %d, want 10000 and 32 as the issue asks", o.Pods, o.Workers)
	}
	err := fs.Parse([]string{"--pods", "300", "--workers", "8", "--skiff-bin", "/x/skiff", "--keep", "--verbose",
		"--json", "--server-args", " --unsafe-no-fsync  --log-level warn ", "--op-timeout", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Pods != 300 || o.Workers != 8 || o.SkiffBin != "/x/skiff" || !o.Keep || !o.Verbose || !o.JSON || o.OpTimeout != 3*time.Second {
		t.Errorf("parsed options = %+v", *o)
	}
	if want := []string{"--unsafe-no-fsync", "--log-level", "warn"}; !slices.Equal(o.ServerArgs, want) {
		t.Errorf("server args = %q, want %q", o.ServerArgs, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("parsed options do not validate: %v", err)
	}
}
