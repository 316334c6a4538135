package runtime

import (
	"errors"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/ep"}, []string{"c1", "c2"}
	tests := []struct {
		name                           string
		entrypoint, cmd, command, args []string
		want                           []string
	}{
		{"image defaults", ep, cmd, nil, nil, []string{"/ep", "c1", "c2"}},
		{"command replaces entrypoint and drops cmd", ep, cmd, []string{"/bin/x"}, nil, []string{"/bin/x"}},
		{"args replace cmd", ep, cmd, nil, []string{"a"}, []string{"/ep", "a"}},
		{"command and args", ep, cmd, []string{"/bin/x"}, []string{"a", "b"}, []string{"/bin/x", "a", "b"}},
		{"no entrypoint, args only", nil, cmd, nil, []string{"sh"}, []string{"sh"}},
		{"cmd only image", nil, cmd, nil, nil, []string{"c1", "c2"}},
		{"nothing", nil, nil, nil, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ProcessArgs(tt.entrypoint, tt.cmd, tt.command, tt.args)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ProcessArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "EMPTY": ""}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "x"},
		{"pre-$(A)-post", "pre-x-post"},
		{"$(EMPTY)|", "|"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"$A", "$A"},
		{"cost $", "cost $"},
		{"$(A", "$(A"},
		{"$(A)$(A)", "xx"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, vars); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBuildProcess(t *testing.T) {
	img := ocispec.ImageConfig{
		Entrypoint: []string{"/ep"},
		Cmd:        []string{"serve"},
		Env:        []string{"PATH=/img/bin", "KEEP=1", "OVER=image"},
		WorkingDir: "/app",
	}
	tests := []struct {
		name    string
		img     ocispec.ImageConfig
		spec    ContainerSpec
		want    Process
		wantErr error
	}{
		{
			name: "image defaults",
			img:  img,
			spec: ContainerSpec{ID: "c"},
			want: Process{Args: []string{"/ep", "serve"}, Env: []string{"PATH=/img/bin", "KEEP=1", "OVER=image"}, Cwd: "/app"},
		},
		{
			name: "overrides, env order and expansion",
			img:  img,
			spec: ContainerSpec{ID: "c", Command: []string{"sh", "-c"}, Args: []string{"echo $(GREETING) $(KEEP)"}, WorkingDir: "/w",
				Env: []EnvVar{{"OVER", "container"}, {"NAME", "skiff"}, {"GREETING", "hi $(NAME)"}, {"NAME", "later"}}},
			// KEEP comes from the image, so $(KEEP) is not expanded (kubelet only expands container env).
			want: Process{Args: []string{"sh", "-c", "echo hi skiff $(KEEP)"},
				Env: []string{"PATH=/img/bin", "KEEP=1", "OVER=container", "NAME=later", "GREETING=hi skiff"}, Cwd: "/w"},
		},
		{
			name: "default PATH and cwd",
			img:  ocispec.ImageConfig{Cmd: []string{"x"}},
			spec: ContainerSpec{ID: "c"},
			want: Process{Args: []string{"x"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cwd: "/"},
		},
		{
			name:    "no command at all",
			img:     ocispec.ImageConfig{},
			spec:    ContainerSpec{ID: "c"},
			wantErr: ErrNoCommand,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildProcess(tt.img, &tt.spec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(got.Args, tt.want.Args) || !slices.Equal(got.Env, tt.want.Env) || got.Cwd != tt.want.Cwd {
				t.Fatalf("BuildProcess =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestCPUConversions(t *testing.T) {
	shares := []struct {
		milli int64
		want  uint64
	}{{0, 2}, {1, 2}, {2, 2}, {100, 102}, {250, 256}, {1000, 1024}, {1500, 1536}, {1 << 30, 262144}}
	for _, tt := range shares {
		if got := CPUShares(tt.milli); got != tt.want {
			t.Errorf("CPUShares(%d) = %d, want %d", tt.milli, got, tt.want)
		}
	}
	quotas := []struct {
		milli int64
		want  int64
	}{{0, -1}, {1, 1000}, {10, 1000}, {100, 10000}, {500, 50000}, {2000, 200000}}
	for _, tt := range quotas {
		if got := CPUQuota(tt.milli, QuotaPeriodUs); got != tt.want {
			t.Errorf("CPUQuota(%d) = %d, want %d", tt.milli, got, tt.want)
		}
	}
}

func TestBuildSpec(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}
	ptrEq := func(p *int64, want int64) bool { return p != nil && *p == want }
	tests := []struct {
		name  string
		spec  ContainerSpec
		check func(t *testing.T, s *specs.Spec)
	}{
		{
			name: "full pod container",
			spec: ContainerSpec{ID: "ctr1", Image: "x", Hostname: "web-0", NetNSPath: "/run/netns/pod1", CgroupParent: "/skiff/n1/uid1",
				Resources: Resources{CPURequestMilli: 250, CPULimitMilli: 500, MemoryLimitBytes: 64 << 20},
				Mounts:    []Mount{{HostPath: "/h/hosts", ContainerPath: "/etc/hosts", ReadOnly: true}}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Hostname != "web-0" {
					t.Errorf("hostname = %q", s.Hostname)
				}
				var netns *specs.LinuxNamespace
				for i, ns := range s.Linux.Namespaces {
					if ns.Type == specs.NetworkNamespace {
						netns = &s.Linux.Namespaces[i]
					}
				}
				if netns == nil || netns.Path != "/run/netns/pod1" {
					t.Errorf("network namespace = %+v, want path /run/netns/pod1", netns)
				}
				if s.Linux.CgroupsPath != "/skiff/n1/uid1/ctr1" {
					t.Errorf("cgroups path = %q", s.Linux.CgroupsPath)
				}
				cpu, mem := s.Linux.Resources.CPU, s.Linux.Resources.Memory
				if cpu == nil || cpu.Shares == nil || *cpu.Shares != 256 || !ptrEq(cpu.Quota, 50000) || cpu.Period == nil || *cpu.Period != 100000 {
					t.Errorf("cpu = %+v", cpu)
				}
				if mem == nil || !ptrEq(mem.Limit, 64<<20) {
					t.Errorf("memory = %+v", mem)
				}
				if mem != nil && mem.Swap != nil && *mem.Swap != 64<<20 {
					t.Errorf("memory+swap = %d, want the memory limit", *mem.Swap)
				}
				found := false
				for _, m := range s.Mounts {
					if m.Destination == "/etc/hosts" {
						found = m.Source == "/h/hosts" && slices.Contains(m.Options, "ro") && slices.Contains(m.Options, "rbind")
					}
				}
				if !found {
					t.Errorf("no read-only bind mount of /etc/hosts in %+v", s.Mounts)
				}
				if !slices.Equal(s.Process.Args, []string{"sh"}) || s.Process.Cwd != "/" {
					t.Errorf("process = %q in %q", s.Process.Args, s.Process.Cwd)
				}
			},
		},
		{
			name: "best effort, own netns, default cgroup",
			spec: ContainerSpec{ID: "ctr2", Image: "x"},
			check: func(t *testing.T, s *specs.Spec) {
				for _, ns := range s.Linux.Namespaces {
					if ns.Type == specs.NetworkNamespace && ns.Path != "" {
						t.Errorf("joins netns %q, want a new one", ns.Path)
					}
				}
				if s.Linux.CgroupsPath != "/skiff/ctr2" {
					t.Errorf("cgroups path = %q, want containerd's default /skiff/ctr2", s.Linux.CgroupsPath)
				}
				cpu := s.Linux.Resources.CPU
				if cpu == nil || cpu.Shares == nil || *cpu.Shares != 2 || cpu.Quota != nil {
					t.Errorf("cpu = %+v, want shares 2 and no quota", cpu)
				}
				if m := s.Linux.Resources.Memory; m != nil && m.Limit != nil {
					t.Errorf("memory limit = %d, want none", *m.Limit)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := BuildSpec(t.Context(), "skiff", img, &tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestContainerSpecValidate(t *testing.T) {
	bad := []ContainerSpec{
		{ID: "", Image: "x"},
		{ID: "a/b", Image: "x"},
		{ID: "a"},
		{ID: "a", Image: "x", NetNSPath: "rel"},
		{ID: "a", Image: "x", CgroupParent: "rel"},
		{ID: "a", Image: "x", LogPath: "rel.log"},
		{ID: "a", Image: "x", Resources: Resources{MemoryLimitBytes: -1}},
		{ID: "a", Image: "x", Mounts: []Mount{{HostPath: "h", ContainerPath: "/c"}}},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", s)
		}
	}
	if err := (&ContainerSpec{ID: "a", Image: "x"}).Validate(); err != nil {
		t.Errorf("minimal spec: %v", err)
	}
}
