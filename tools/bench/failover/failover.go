// Package failover is `skiff bench failover`: in a running lab, writers create ConfigMaps
// through the API (a client that fails over between the servers, control/apiclient) while
// the raft leader's VM has its skiff killed with SIGKILL. It measures how long after the kill
// the first write sent after it is acknowledged, restarts the VM, and counts acknowledged
// writes missing afterwards. The last line of the report is
//
//	failover: first write after leader kill=Nms lost=N
//
// The anchor is etcd's own election: a leader loss costs an election timeout (etcd's default
// 1000 ms) plus the new leader's first commit.
package failover

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/control/apiclient"
	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/tools/lab"
)

// Goal of issue 6.
const Goal = 2 * time.Second

// Config configures a run.
type Config struct {
	// LabDir is the running lab's directory.
	LabDir string
	// Binary restarts the killed VM's skiff (default: the lab's own record of it is not
	// kept, so this is required; `skiff bench failover` passes its own executable).
	Binary string
	// Writers write at once.
	Writers int
	// Before and After are how long the writers run before the kill and after it.
	Before, After time.Duration
	Logger        *slog.Logger
}

// DefaultConfig is 8 writers, 3 s before and 5 s after the kill, in the lab of `make up`.
func DefaultConfig() Config {
	return Config{LabDir: ".data/lab", Writers: 8, Before: 3 * time.Second, After: 5 * time.Second}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.LabDir == "":
		return errors.New("failover: no lab directory")
	case c.Binary == "":
		return errors.New("failover: no skiff binary to restart the killed VM with")
	case c.Writers < 1:
		return fmt.Errorf("failover: %d writers", c.Writers)
	case c.Before <= 0 || c.After <= 0:
		return errors.New("failover: the write periods must be positive")
	}
	return nil
}

// RegisterFlags adds the flags of `skiff bench failover` to fs.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := DefaultConfig()
	fs.StringVar(&c.LabDir, "lab", c.LabDir, "directory of the running lab (skiff lab up --dir)")
	fs.IntVar(&c.Writers, "writers", c.Writers, "concurrent writers")
	fs.DurationVar(&c.Before, "before", c.Before, "writing before the kill")
	fs.DurationVar(&c.After, "after", c.After, "writing after the kill")
	return &c
}

// Result is what one run measured.
type Result struct {
	Leader string
	// FirstWrite: from the kill to the acknowledgement of the first write sent after it.
	FirstWrite time.Duration
	// Acked writes, and those missing once the VM was back.
	Acked, Lost int
	// Failed writes (errors, outcome unknown) around the kill.
	Failed int
}

// Report writes the report; its last line is the machine-read one.
func Report(w io.Writer, r Result) {
	fmt.Fprintf(w, "killed the leader %s with SIGKILL under a write load through the API\n", r.Leader)
	fmt.Fprintf(w, "writes: %d acknowledged, %d failed around the kill (outcome unknown to the client)\n", r.Acked, r.Failed)
	fmt.Fprintf(w, "first write after the kill acknowledged after %dms (goal ≤ %dms; etcd's default election timeout alone is 1000ms)\n", r.FirstWrite.Milliseconds(), Goal.Milliseconds())
	fmt.Fprintf(w, "failover: first write after leader kill=%dms lost=%d\n", r.FirstWrite.Milliseconds(), r.Lost)
}

// Run runs the benchmark and writes its report to w.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	res, err := Measure(ctx, cfg)
	if err != nil {
		return err
	}
	Report(w, res)
	return nil
}

// ack is one acknowledged write.
type ack struct {
	name     string
	sent, at time.Time
}

// Measure runs the scenario. The killed VM is started again before it returns, also on
// failure, and the namespace it wrote into is deleted.
func Measure(ctx context.Context, cfg Config) (res Result, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := lab.Load(cfg.LabDir, log)
	if err != nil {
		return res, fmt.Errorf("failover: %w", err)
	}
	rc, err := apiclient.ForKubeconfig(l.KubeconfigPath())
	if err != nil {
		return res, fmt.Errorf("failover: %w", err)
	}
	rc.Timeout = 5 * time.Second
	rc.QPS, rc.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return res, fmt.Errorf("failover: %w", err)
	}
	ns := fmt.Sprintf("failover-%d", time.Now().UnixNano()%100000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("failover: create namespace: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = client.CoreV1().Namespaces().Delete(cctx, ns, metav1.DeleteOptions{})
	}()

	raw, err := client.Discovery().RESTClient().Get().AbsPath(apiserver.StatusPath).DoRaw(ctx)
	if err != nil {
		return res, fmt.Errorf("failover: cluster status: %w", err)
	}
	var servers []apiserver.ServerStatus
	if err := json.Unmarshal(raw, &servers); err != nil {
		return res, fmt.Errorf("failover: cluster status: %w", err)
	}
	for _, s := range servers {
		if s.State == "Leader" {
			res.Leader = s.Name
		}
	}
	if res.Leader == "" {
		return res, errors.New("failover: the cluster has no leader")
	}

	wctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var acks []ack
	var failed int
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				sent := time.Now()
				_, err := client.CoreV1().ConfigMaps(ns).Create(wctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"w": name}}, metav1.CreateOptions{})
				at := time.Now()
				mu.Lock()
				switch {
				case err == nil:
					acks = append(acks, ack{name: name, sent: sent, at: at})
				case wctx.Err() == nil:
					failed++
				}
				mu.Unlock()
			}
		})
	}
	restarted := false
	defer func() {
		stop()
		wg.Wait()
		if !restarted {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
			defer cancel()
			if _, rerr := l.StartCluster(rctx, lab.ClusterConfig{Binary: cfg.Binary}); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()

	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.Before):
	}
	log.Info("killing the leader", "vm", res.Leader)
	killed := time.Now()
	if err := l.Stop(res.Leader, "skiff", syscall.SIGKILL); err != nil {
		return res, fmt.Errorf("failover: kill %s: %w", res.Leader, err)
	}
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.After):
	}
	stop()
	wg.Wait()
	for _, a := range acks {
		if !a.sent.Before(killed) && (res.FirstWrite == 0 || a.at.Sub(killed) < res.FirstWrite) {
			res.FirstWrite = a.at.Sub(killed)
		}
	}
	if res.FirstWrite == 0 {
		return res, fmt.Errorf("failover: no write sent after the kill was acknowledged within %v (%d failed)", cfg.After, failed)
	}

	log.Info("starting the killed VM again", "vm", res.Leader)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := l.Wait(rctx, res.Leader, "skiff"); err != nil {
		return res, fmt.Errorf("failover: wait for the killed process: %w", err)
	}
	if _, err := l.StartCluster(rctx, lab.ClusterConfig{Binary: cfg.Binary}); err != nil {
		return res, fmt.Errorf("failover: restart %s: %w", res.Leader, err)
	}
	restarted = true
	list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, fmt.Errorf("failover: list what was written: %w", err)
	}
	stored := map[string]bool{}
	for _, cm := range list.Items {
		stored[cm.Name] = true
	}
	res.Acked, res.Failed = len(acks), failed
	for _, a := range acks {
		if !stored[a.name] {
			res.Lost++
		}
	}
	return res, nil
}
