package storebench

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestDefaultOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions().Validate() = %v", err)
	}
}

func TestDefaultRunFitsTheBudget(t *testing.T) {
	// Two stores × every workload × Duration, plus failover: keep a full run
	// well under four minutes on a two-core machine.
	o := DefaultOptions()
	load := time.Duration(2*len(workloads()))*o.Duration + failoverPreload
	if load > 2*time.Minute {
		t.Errorf("default load time %v; the budget is about 4 minutes including startup", load)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"not vs etcd", func(o *Options) { o.VsEtcd = false }, "only the --vs-etcd comparison"},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "duration 0s: must be positive"},
		{"no etcd binary", func(o *Options) { o.EtcdBin = "" }, "etcd binary: empty path"},
		{"no conns", func(o *Options) { o.Conns = 0 }, "conns 0: need at least 1"},
		{"too few keys", func(o *Options) { o.Keys = 10 }, "keys 10: need at least 64"},
		{"value too small", func(o *Options) { o.ValueSize = 8 }, "value size 8: must be within [16, 1048576] bytes"},
		{"value too big", func(o *Options) { o.ValueSize = 2 << 20 }, "value size 2097152"},
		{"start timeout", func(o *Options) { o.StartTimeout = -time.Second }, "start timeout -1s"},
		{"failover timeout", func(o *Options) { o.FailoverTimeout = 0 }, "failover timeout 0s"},
		{"op timeout", func(o *Options) { o.OpTimeout = 0 }, "op timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.modify(&o)
			err := o.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "storebench: ") {
				t.Errorf("Validate() = %q, want a storebench: error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := DefaultOptions()
	o.Duration, o.Conns = 0, 0
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "duration") || !strings.Contains(err.Error(), "conns") {
		t.Errorf("Validate() = %v, want both the duration and the conns problem", err)
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flag.NewFlagSet("bench store", flag.ContinueOnError)
	o := RegisterFlags(fs)
	if err := fs.Parse([]string{"--vs-etcd", "--duration", "2s", "--skiff-bin", "/opt/skiff", "--conns", "4"}); err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := DefaultOptions()
	want.Duration, want.SkiffBin, want.Conns = 2*time.Second, "/opt/skiff", 4
	if o.Duration != want.Duration || o.SkiffBin != want.SkiffBin || o.Conns != want.Conns ||
		o.EtcdBin != want.EtcdBin || o.Keys != want.Keys || o.ValueSize != want.ValueSize || !o.VsEtcd {
		t.Errorf("after parsing, options = %+v, want %+v", *o, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("parsed options do not validate: %v", err)
	}
}

func TestFreePortsAreDistinctLoopbackPorts(t *testing.T) {
	ports, err := freePorts(2 * portsPerCluster)
	if err != nil {
		t.Fatalf("freePorts: %v", err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 || seen[p] {
			t.Errorf("bad or repeated port %d in %v", p, ports)
		}
		seen[p] = true
	}
}

func TestMemberArgs(t *testing.T) {
	ports := []int{1, 2, 3, 11, 12, 13}
	specs, err := skiffSpecs("/bin/skiff", "/tmp/x", ports)
	if err != nil {
		t.Fatalf("skiffSpecs: %v", err)
	}
	got := strings.Join(specs[1].args, " ")
	const want = "server --name n2 --data-dir /tmp/x/n2 --raft-addr 127.0.0.1:12 --client-addr 127.0.0.1:2 --api-addr 127.0.0.1:0 --serf-addr off --peers n1=127.0.0.1:11,n2=127.0.0.1:12,n3=127.0.0.1:13"
	if got != want {
		t.Errorf("skiff n2 args:\n got %q\nwant %q", got, want)
	}
	specs, err = etcdSpecs("/usr/bin/etcd", "/tmp/x", ports)
	if err != nil {
		t.Fatalf("etcdSpecs: %v", err)
	}
	got = strings.Join(specs[2].args, " ")
	for _, want := range []string{
		"--name n3 --data-dir /tmp/x/n3",
		"--listen-client-urls http://127.0.0.1:3 --advertise-client-urls http://127.0.0.1:3",
		"--listen-peer-urls http://127.0.0.1:13 --initial-advertise-peer-urls http://127.0.0.1:13",
		"--initial-cluster n1=http://127.0.0.1:11,n2=http://127.0.0.1:12,n3=http://127.0.0.1:13",
		"--initial-cluster-state new --initial-cluster-token storebench-",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("etcd n3 args %q lack %q", got, want)
		}
	}
	for _, kv := range specs[0].env {
		if strings.HasPrefix(kv, "ETCD_") {
			t.Errorf("etcd environment keeps %q", kv)
		}
	}
	if _, err := etcdSpecs("/usr/bin/etcd", "/tmp/x", ports[:2]); err == nil {
		t.Error("etcdSpecs with two ports: nil error")
	}
}
