package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/control/pki"
	"github.com/skiff-sh/skiff/tools/chaos/check"
	"github.com/skiff-sh/skiff/tools/chaos/fault"
	"github.com/skiff-sh/skiff/tools/chaos/history"
	"github.com/skiff-sh/skiff/tools/chaos/report"
	"github.com/skiff-sh/skiff/tools/chaos/workload"
	"github.com/skiff-sh/skiff/tools/lab"
)

// Config configures a run.
type Config struct {
	Duration time.Duration
	Seed     uint64
	Faults   []fault.Kind
	Schedule fault.ScheduleConfig
	// ReportDir receives the history, the report and porcupine's pages.
	ReportDir string
	// LabDir is the lab to use; if none is recorded there, one is brought
	// up with Lab (Dir set to LabDir) and brought down at the end.
	LabDir string
	Lab    lab.Config
	// Binary is the skiff binary the lab's VMs run (restarts use it).
	Binary string
	// Version is this skiff's version, for the report.
	Version string
	// Command is the command line that repeats the run, for the report.
	Command string
	// Deployment runs hello-world with scale and image changes, checked
	// for convergence at the end.
	Deployment bool
	// DataDisk is the size of the tmpfs a run mounts under each server's
	// data directory when it brings up the lab itself and the disk-full
	// fault is scheduled (against a lab without them, that fault is
	// dropped).
	DataDisk int64
	// Recovery bounds the wait for recovery after each heal; Settle the
	// convergence check at the end.
	Recovery, Settle time.Duration
	Logger           *slog.Logger
}

// DefaultConfig is a 3-minute run of every fault with the deployment,
// against (or bringing up) the lab in .data/chaos-lab.
func DefaultConfig() Config {
	lc := lab.DefaultConfig()
	lc.Name = "chaos"
	lc.Subnet = netip.MustParsePrefix("10.99.100.0/24")
	lc.StopGrace = 2 * time.Second
	return Config{
		Duration:   3 * time.Minute,
		Seed:       uint64(time.Now().UnixNano() % 1e9),
		Faults:     append([]fault.Kind(nil), fault.Kinds...),
		Schedule:   fault.DefaultScheduleConfig(),
		ReportDir:  filepath.Join(".data", "chaos", time.Now().Format("20060102-150405")),
		LabDir:     filepath.Join(".data", "chaos-lab"),
		Lab:        lc,
		Version:    "dev",
		Deployment: true,
		DataDisk:   512 << 20,
		Recovery:   90 * time.Second,
		Settle:     3 * time.Minute,
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// Validate reports a configuration a run cannot use.
func (c Config) Validate() error {
	var errs []error
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("run: duration %s must be positive", c.Duration))
	}
	if len(c.Faults) == 0 {
		errs = append(errs, errors.New("run: no faults"))
	}
	if err := c.Schedule.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ReportDir == "" || c.LabDir == "" || c.Binary == "" {
		errs = append(errs, fmt.Errorf("run: need a report directory (%q), a lab directory (%q) and a skiff binary (%q)", c.ReportDir, c.LabDir, c.Binary))
	}
	if slices.Contains(c.Faults, fault.DiskFull) && c.DataDisk < 64<<20 {
		errs = append(errs, fmt.Errorf("run: a data disk of %d bytes is too small for a server (want at least 64 MiB)", c.DataDisk))
	}
	if c.Recovery <= 0 || c.Settle <= 0 {
		errs = append(errs, errors.New("run: recovery and settle bounds must be positive"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("run: Logger is nil"))
	}
	return errors.Join(errs...)
}

// Run runs the chaos run cfg describes, writes the report to cfg.ReportDir
// and its summary to out, and returns it (report.Pass says whether the run
// passed). The error is a run that could not be carried out (no lab, no
// cluster); violations are in the report. Every fault is healed, and
// whatever the run created is removed, also when it fails.
func Run(ctx context.Context, cfg Config, out io.Writer) (rep *report.Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	started := time.Now()
	if err := os.MkdirAll(cfg.ReportDir, 0o755); err != nil {
		return nil, fmt.Errorf("run: creating the report directory: %w", err)
	}
	l, err := lab.Load(cfg.LabDir, log)
	if errors.Is(err, lab.ErrNotUp) {
		lc := cfg.Lab
		lc.Dir = cfg.LabDir
		fmt.Fprintf(out, "bringing up a lab in %s ...\n", lc.Dir)
		if l, err = lab.Up(ctx, lc, log); err != nil {
			return nil, fmt.Errorf("run: lab up: %w", err)
		}
		defer func() {
			if derr := l.Down(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, fmt.Errorf("run: lab down: %w", derr))
			}
		}()
		if slices.Contains(cfg.Faults, fault.DiskFull) {
			for _, vm := range l.VMs() {
				if vm.Name == lab.RegistryVM {
					continue
				}
				if err := l.MountDataDisk(vm.Name, cfg.DataDisk); err != nil {
					return nil, fmt.Errorf("run: %w", err)
				}
			}
		}
	} else if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if slices.Contains(cfg.Faults, fault.DiskFull) {
		for _, vm := range l.VMs() {
			if vm.Name != lab.RegistryVM && !l.DataDiskMounted(vm.Name) {
				fmt.Fprintf(out, "no data disk under %s (a lab the run did not bring up): fault %s dropped\n", vm.Name, fault.DiskFull)
				cfg.Faults = slices.DeleteFunc(slices.Clone(cfg.Faults), func(k fault.Kind) bool { return k == fault.DiskFull })
				break
			}
		}
		if len(cfg.Faults) == 0 {
			return nil, errors.New("run: no faults left to run")
		}
	}
	cc := lab.ClusterConfig{Binary: cfg.Binary, Ready: 2 * time.Minute}
	fmt.Fprintln(out, "starting Skiff in the lab (or checking it runs) ...")
	rc, err := l.StartCluster(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	defer func() { // a fault the book could not heal must not outlive the run
		if herr := l.HealAll(); herr != nil {
			err = errors.Join(err, herr)
		}
	}()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	tgt, kubes, closeClients, err := connect(ctx, l, cc, rc, tag)
	if err != nil {
		return nil, err
	}
	defer closeClients()
	rec, err := history.Create(cfg.ReportDir)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	defer rec.Close()

	var clis []*clientv3.Client
	for _, vm := range tgt.servers {
		clis = append(clis, tgt.etcd[vm])
	}
	rcfg := workload.DefaultRegisterConfig()
	rcfg.Seed, rcfg.Logger = cfg.Seed, log
	etcdReg, err := workload.NewEtcdRegister(rcfg, clis...)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	wcfg := workload.DefaultWatchConfig()
	wcfg.Seed, wcfg.Logger = cfg.Seed, log
	watcher, err := workload.NewEtcdWatcher(wcfg, clis...)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ccfg := rcfg
	ccfg.Keys, ccfg.Clients, ccfg.Seed = 4, 2, cfg.Seed+1
	cmReg, err := workload.NewConfigMapRegister(ccfg, "default", kubes...)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	defer func() { _ = cmReg.Cleanup(context.WithoutCancel(ctx)) }()
	ws := []workload.Workload{etcdReg, watcher, cmReg}

	var deployments []string
	var binds bindings
	var svc serviceLoop
	svcURL := ""
	deployName := "chaos-" + tag
	if cfg.Deployment {
		if err := createDeployment(ctx, tgt.kube, deployName); err != nil {
			return nil, err
		}
		deployments = append(deployments, deployName)
		defer deleteDeployment(context.WithoutCancel(ctx), tgt.kube, deployName)
		fmt.Fprintf(out, "waiting for deployment %s ...\n", deployName)
		if v := Converge(ctx, tgt.kube, ConvergeConfig{Namespace: "default", Deployments: deployments, Bound: cfg.Settle}); v.Result != check.Pass {
			return nil, fmt.Errorf("run: the deployment did not come up before the faults: %v", v.Details)
		}
		sv, err := tgt.kube.CoreV1().Services("default").Get(ctx, deployName, metav1.GetOptions{})
		if err != nil || sv.Spec.ClusterIP == "" {
			return nil, fmt.Errorf("run: the service %s has no cluster IP: %v", deployName, err)
		}
		svcURL = "http://" + net.JoinHostPort(sv.Spec.ClusterIP, "80") + "/"
	}
	if err := tgt.waitHealthy(ctx, cfg.Recovery); err != nil {
		return nil, fmt.Errorf("run: the cluster is not healthy before the run: %w", err)
	}

	book := fault.NewBook(tgt, rec.Since)
	defer func() {
		if herr := book.HealAll(context.WithoutCancel(ctx)); herr != nil {
			err = errors.Join(err, herr)
		}
	}()
	sched, err := fault.NewSchedule(cfg.Seed, cfg.Faults, cfg.Schedule)
	if err != nil {
		return nil, err
	}
	var notes []string
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	sideCtx, stopSide := context.WithCancel(ctx)
	defer stopSide()
	if cfg.Deployment {
		go binds.run(sideCtx, tgt.kube, "default", "app="+deployName, time.Second)
		go deploymentWorkload(runCtx, tgt.kube, "default", deployName, 15*time.Second, log)
	}
	svcDone := make(chan struct{})
	if svcURL != "" {
		go func() {
			defer close(svcDone)
			svc.run(runCtx, l, tgt.servers, svcURL, rec.Since, 200*time.Millisecond)
		}()
	} else {
		close(svcDone)
	}
	type result struct {
		h   history.History
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := workload.Run(runCtx, rec, ws...)
		done <- result{h, err}
	}()
	fmt.Fprintf(out, "running %s of faults (seed %d): %v\n", cfg.Duration, cfg.Seed, cfg.Faults)
	notes = append(notes, faultLoop(runCtx, ctx, cfg, tgt, book, sched, rec, out)...)
	if herr := book.HealAll(ctx); herr != nil {
		notes = append(notes, herr.Error())
	}
	res := <-done
	<-svcDone
	if res.err != nil {
		notes = append(notes, res.err.Error())
	}
	if err := tgt.waitHealthy(ctx, cfg.Recovery); err != nil {
		notes = append(notes, "after the run: "+err.Error())
	}
	fctx, fcancel := context.WithTimeout(ctx, time.Minute)
	if err := workload.Final(fctx, rec, ws...); err != nil {
		notes = append(notes, err.Error())
	}
	fcancel()
	if err := rec.Close(); err != nil {
		notes = append(notes, err.Error())
	}
	h := rec.History()
	chk := check.DefaultConfig()
	chk.ReportDir = cfg.ReportDir
	verdicts, _, cerr := check.All(h, chk)
	if cerr != nil {
		notes = append(notes, cerr.Error())
	}
	if cfg.Deployment {
		verdicts = append(verdicts, Converge(ctx, tgt.kube, ConvergeConfig{Namespace: "default", Deployments: deployments, Bound: cfg.Settle, Doubles: binds.doubles()}))
	}
	stopSide()
	rep = report.New(h, book.Records(), verdicts)
	rep.Notes = notes
	if svcURL != "" {
		rep.AddService(svc.requests())
	}
	rep.Seed, rep.Started, rep.Duration, rep.Command = cfg.Seed, started, time.Since(started), cfg.Command
	rep.Versions, rep.Topology = describe(ctx, l, tgt, cfg.Version)
	if werr := rep.Write(cfg.ReportDir); werr != nil {
		return rep, werr
	}
	fmt.Fprintf(out, "report: %s\n", filepath.Join(cfg.ReportDir, report.HTMLFile))
	fmt.Fprint(out, rep.Text())
	return rep, nil
}

// faultLoop injects and heals faults until runCtx ends, leaving the last
// tenth of the run fault-free. It returns notes on health failures.
func faultLoop(runCtx, ctx context.Context, cfg Config, tgt *labTarget, book *fault.Book, sched *fault.Schedule, rec *history.Recorder, out io.Writer) []string {
	var notes []string
	deadline, _ := runCtx.Deadline()
	tail := cfg.Duration / 10
	for {
		s := sched.Next()
		if time.Until(deadline)-tail < s.Gap+s.Hold/2 {
			return notes
		}
		select {
		case <-runCtx.Done():
			return notes
		case <-time.After(s.Gap):
		}
		if err := tgt.waitHealthy(runCtx, cfg.Recovery); err != nil {
			if runCtx.Err() != nil {
				return notes
			}
			notes = append(notes, fmt.Sprintf("before fault %d (%s): %v", s.Seq, s.Kind, err))
			return notes
		}
		id, err := book.Inject(runCtx, s)
		r := book.Records()[id]
		fmt.Fprintf(out, "%6.1fs fault %d %s: %s\n", r.Injected.Seconds(), s.Seq, s.Kind, r.Detail)
		if err != nil {
			fmt.Fprintf(out, "        injection failed: %v\n", err)
			cfg.Logger.Warn("fault injection failed", "seq", s.Seq, "kind", s.Kind, "err", err)
			continue
		}
		select {
		case <-runCtx.Done():
		case <-time.After(s.Hold):
		}
		// Recovery is measured from the moment healing begins, while it
		// runs (a restart waits for every node to be Ready).
		healStart := time.Now()
		type times struct{ el, fw time.Duration }
		measured := make(chan times, 1)
		go func() {
			el, fw := tgt.recovery(ctx, healStart, cfg.Recovery)
			measured <- times{el, fw}
		}()
		if err := book.Heal(ctx, id); err != nil {
			notes = append(notes, err.Error())
		}
		m := <-measured
		el, fw := m.el, m.fw
		book.SetRecovery(id, el, fw)
		fmt.Fprintf(out, "%6.1fs healed %d: leader agreed after %dms, first write after %dms\n", rec.Since().Seconds(), s.Seq, el.Milliseconds(), fw.Milliseconds())
		if fw < 0 {
			notes = append(notes, fmt.Sprintf("fault %d (%s): no write succeeded within %s of the heal", s.Seq, s.Kind, cfg.Recovery))
		}
	}
}

// connect makes the etcd and Kubernetes clients of every server.
func connect(ctx context.Context, l *lab.Lab, cc lab.ClusterConfig, rc *rest.Config, tag string) (*labTarget, []kubernetes.Interface, func(), error) {
	t := &labTarget{lab: l, cc: cc, etcd: map[string]*clientv3.Client{}, probe: "/chaos/probe/" + tag}
	var kubes []kubernetes.Interface
	closeAll := func() {
		for _, c := range t.etcd {
			_ = c.Close()
		}
	}
	// The servers' etcd port is mutual TLS from the join token.
	token, err := l.JoinToken()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("run: %w", err)
	}
	_, etcdTLS, err := pki.PeerTLS(token, "skiff-chaos", time.Now())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("run: %w", err)
	}
	for _, vm := range l.VMs() {
		if vm.Name == lab.RegistryVM {
			continue
		}
		t.servers = append(t.servers, vm.Name)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{t.endpoint(vm.Name)}, TLS: etcdTLS.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("run: etcd client for %s: %w", vm.Name, err)
		}
		t.etcd[vm.Name] = cli
		c := rest.CopyConfig(rc)
		c.Host = fmt.Sprintf("https://%s:%d", vm.Addr.Addr(), lab.APIPort)
		c.QPS, c.Burst, c.Timeout = -1, 0, 10*time.Second
		c.UserAgent = "skiff-chaos"
		k, err := kubernetes.NewForConfig(c)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("run: kubernetes client for %s: %w", vm.Name, err)
		}
		kubes = append(kubes, k)
	}
	k, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("run: %w", err)
	}
	t.kube = k
	return t, kubes, closeAll, nil
}

func createDeployment(ctx context.Context, client kubernetes.Interface, name string) error {
	d, s := helloDeployment(name, 3)
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("run: creating deployment %s: %w", name, err)
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("run: creating service %s: %w", name, err)
	}
	return nil
}

func deleteDeployment(ctx context.Context, client kubernetes.Interface, name string) {
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	if err := client.AppsV1().Deployments("default").Delete(c, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		_ = err // the lab keeps it; nothing else depends on it
	}
	_ = client.CoreV1().Services("default").Delete(c, name, metav1.DeleteOptions{})
}

// describe is the report's versions and topology.
func describe(ctx context.Context, l *lab.Lab, t *labTarget, version string) (map[string]string, []string) {
	vs := map[string]string{"skiff": version}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if sv, err := t.kube.Discovery().ServerVersion(); err == nil {
		vs["kubernetes API"] = sv.GitVersion
	}
	var topo []string
	for _, vm := range l.VMs() {
		role := "server --with-node"
		if vm.Name == lab.RegistryVM {
			role = "registry"
		} else if st, err := t.etcd[vm.Name].Status(c, t.endpoint(vm.Name)); err == nil {
			vs["etcd API ("+vm.Name+")"] = st.Version
		}
		topo = append(topo, fmt.Sprintf("%s %s: %s", vm.Name, vm.Addr.Addr(), role))
	}
	topo = append(topo, "lab "+l.Dir()+", bridge "+l.BridgeAddr())
	return vs, topo
}
