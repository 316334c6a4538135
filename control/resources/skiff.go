package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/allocator"
	v1 "github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/control/registry"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// MaxModuleBodyBytes is the request body limit of policymodules: a 16 MiB
// module in base64 and the object around it. Larger bodies are a 413.
const MaxModuleBodyBytes = (v1.MaxModuleBytes+2)/3*4 + 64<<10

// validateTimeout bounds one module's validation, waiting included.
const validateTimeout = 60 * time.Second

// skiff returns the resources of Skiff's own group, skiff.dev/v1alpha1.
func skiff(opts Options) []*registry.Resource {
	check := &moduleChecker{sem: make(chan struct{}, 1), cacheDir: opts.WasmCacheDir, logger: opts.Logger}
	modules := &registry.Resource{
		Kind: v1.SchemeGroupVersion.WithKind("PolicyModule"), Plural: "policymodules", Singular: "policymodule",
		ShortNames: []string{"pm"}, Categories: []string{"skiff"},
		Prefix: "/registry/policymodules",
		New:    func() runtime.Object { return &v1.PolicyModule{} }, NewList: func() runtime.Object { return &v1.PolicyModuleList{} },
		JSONStorage: true, MaxBodyBytes: MaxModuleBodyBytes,
	}
	modules.Default = func(obj runtime.Object) {
		m := obj.(*v1.PolicyModule)
		if m.Name == "" && m.GenerateName == "" && len(m.Spec.Wasm) > 0 {
			m.Name = v1.ObjectName(v1.Digest(m.Spec.Wasm))
		}
	}
	modules.Validate = func(obj runtime.Object) field.ErrorList { return check.validate(obj.(*v1.PolicyModule)) }
	modules.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
		return validateModuleUpdate(obj.(*v1.PolicyModule), old.(*v1.PolicyModule))
	}
	modules.Allocate = func(ctx context.Context, obj, old runtime.Object) (func(bool), error) {
		m := obj.(*v1.PolicyModule)
		if old != nil || len(m.Spec.Wasm) == 0 {
			return nil, nil
		}
		// The bytes go beside the object; the object keeps size and hooks.
		if err := writeModule(ctx, opts.KV, m.Name, m.Spec.Wasm); err != nil {
			return nil, err
		}
		m.Spec.Wasm = nil
		return nil, nil
	}
	modules.Release = func(ctx context.Context, obj runtime.Object) {
		name := obj.(*v1.PolicyModule).Name
		if err := deleteModule(ctx, opts.KV, name); err != nil {
			opts.Logger.Warn("policy module bytes not deleted", "module", name, "err", err)
		}
	}

	policies := &registry.Resource{
		Kind: v1.SchemeGroupVersion.WithKind("SchedulingPolicy"), Plural: "schedulingpolicies", Singular: "schedulingpolicy",
		ShortNames: []string{"sp"}, Categories: []string{"skiff"},
		Prefix: "/registry/schedulingpolicies",
		New:    func() runtime.Object { return &v1.SchedulingPolicy{} }, NewList: func() runtime.Object { return &v1.SchedulingPolicyList{} },
		JSONStorage: true, Status: true, Generation: true,
	}
	policies.Default = func(obj runtime.Object) {
		if p := obj.(*v1.SchedulingPolicy); p.Spec.Shadow && p.Spec.ShadowOf == "" {
			p.Spec.ShadowOf = v1.DefaultShadowOf
		}
	}
	policies.PrepareForCreate = func(obj runtime.Object) {
		p := obj.(*v1.SchedulingPolicy)
		p.Status = v1.SchedulingPolicyStatus{}
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		p.Status.History = []v1.ModuleRevision{{Module: p.Spec.Module, Time: now}}
		p.Status.Conditions = []metav1.Condition{{Type: v1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: "Accepted",
			Message: "the module exists and passed validation on upload", LastTransitionTime: now, ObservedGeneration: p.Generation}}
	}
	policies.PrepareForUpdate = func(obj, old runtime.Object) {
		p, o := obj.(*v1.SchedulingPolicy), old.(*v1.SchedulingPolicy)
		// A new candidate (module, configuration, or what it shadows) starts a
		// new comparison.
		if p.Spec.Module != o.Spec.Module || p.Spec.ShadowOf != o.Spec.ShadowOf || (p.Spec.Shadow && !o.Spec.Shadow) ||
			!apiequality.Semantic.DeepEqual(p.Spec.Configuration, o.Spec.Configuration) {
			p.Status.Shadow = nil
		}
		if p.Spec.Module == o.Spec.Module {
			return
		}
		p.Status.History = append(slices.Clone(p.Status.History), v1.ModuleRevision{Module: p.Spec.Module, Time: metav1.NewTime(time.Now().Truncate(time.Second))})
		if n := len(p.Status.History); n > v1.MaxHistory {
			p.Status.History = p.Status.History[n-v1.MaxHistory:]
		}
	}
	policies.Validate = func(obj runtime.Object) field.ErrorList {
		return validatePolicy(opts.KV, modules, obj.(*v1.SchedulingPolicy))
	}
	policies.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
		p, o := obj.(*v1.SchedulingPolicy), old.(*v1.SchedulingPolicy)
		errs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &o.ObjectMeta, field.NewPath("metadata"))
		if p.Spec.Module != o.Spec.Module || !apiequality.Semantic.DeepEqual(p.Spec, o.Spec) {
			errs = append(errs, validatePolicy(opts.KV, modules, p)...)
		}
		return errs
	}
	policies.ValidateStatus = func(obj, old runtime.Object) field.ErrorList {
		p, o := obj.(*v1.SchedulingPolicy), old.(*v1.SchedulingPolicy)
		errs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &o.ObjectMeta, field.NewPath("metadata"))
		if len(p.Status.History) > v1.MaxHistory {
			errs = append(errs, field.TooMany(field.NewPath("status", "history"), len(p.Status.History), v1.MaxHistory))
		}
		if sh := p.Status.Shadow; sh != nil {
			path := field.NewPath("status", "shadow")
			for _, c := range []struct {
				name string
				n    int64
			}{{"decisions", sh.Decisions}, {"agreements", sh.Agreements}, {"disagreements", sh.Disagreements}, {"failures", sh.Failures}, {"dropped", sh.Dropped}} {
				if c.n < 0 {
					errs = append(errs, field.Invalid(path.Child(c.name), c.n, "must not be negative"))
				}
			}
		}
		return errs
	}
	return []*registry.Resource{modules, policies}
}

// moduleChecker validates uploaded modules with the wasm runtime, one at a
// time (compiling takes a second of a core).
type moduleChecker struct {
	sem      chan struct{}
	cacheDir string
	logger   *slog.Logger
}

var wasmPath = field.NewPath("spec", "wasm")

func invalidWasm(detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeInvalid, Field: wasmPath.String(), BadValue: field.OmitValueType{}, Detail: detail}
}

// validate checks a new module: its name is its digest, it fits the size
// limit, and the wasm runtime loads it (compiles, exports ABI v1 and the
// hooks it claims, passes the dry run within the limits for untrusted
// modules). It fills in Size and Hooks.
func (c *moduleChecker) validate(m *v1.PolicyModule) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, apimachineryvalidation.ValidateObjectMeta(&m.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	switch n := len(m.Spec.Wasm); {
	case n == 0:
		return append(errs, field.Required(wasmPath, "the module's bytes (base64 in JSON)"))
	case n > v1.MaxModuleBytes:
		return append(errs, field.TooLong(wasmPath, field.OmitValueType{}, v1.MaxModuleBytes))
	}
	digest := v1.Digest(m.Spec.Wasm)
	if want := v1.ObjectName(digest); m.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), m.Name, "must be the module's content address "+want))
	}
	if m.Spec.Size != 0 && m.Spec.Size != int64(len(m.Spec.Wasm)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "size"), m.Spec.Size, fmt.Sprintf("the module has %d bytes", len(m.Spec.Wasm))))
	}
	hooksPath := field.NewPath("spec", "hooks")
	for i, h := range m.Spec.Hooks {
		if h != v1.HookFilter && h != v1.HookScore && h != v1.HookReconcile {
			errs = append(errs, field.NotSupported(hooksPath.Index(i), h, []string{v1.HookFilter, v1.HookScore, v1.HookReconcile}))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	hooks, err := c.load(digest, m.Spec.Wasm)
	if err != nil {
		return append(errs, invalidWasm(err.Error()))
	}
	for _, h := range m.Spec.Hooks {
		if !slices.Contains(hooks, h) {
			errs = append(errs, invalidWasm(fmt.Sprintf("the module does not implement the %s hook it claims (it implements %v)", h, hooks)))
		}
	}
	m.Spec.Size = int64(len(m.Spec.Wasm))
	m.Spec.Hooks = hooks
	return errs
}

// load runs the module through the wasm runtime's checks with the
// defaults for untrusted modules and returns the hooks it implements.
func (c *moduleChecker) load(digest string, wasm []byte) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), validateTimeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, errors.New("the server is busy validating other modules; try again")
	}
	cfg := wasmrt.DefaultConfig()
	cfg.CacheDir = c.cacheDir
	cfg.PoolSize = 1
	h, err := wasmrt.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the wasm runtime: %w", err)
	}
	defer h.Close(context.WithoutCancel(ctx))
	m, err := h.Load(ctx, digest, wasm, wasmrt.ModuleOptions{})
	if err != nil {
		return nil, err
	}
	defer m.Close(context.WithoutCancel(ctx))
	var hooks []string
	hk := m.Hooks()
	if hk.Filter {
		hooks = append(hooks, v1.HookFilter)
	}
	if hk.Score {
		hooks = append(hooks, v1.HookScore)
	}
	if hk.Reconcile {
		hooks = append(hooks, v1.HookReconcile)
	}
	if len(hooks) == 0 {
		return nil, errors.New("the module implements no hook (every hook answered not implemented in the dry run)")
	}
	return hooks, nil
}

// validateModuleUpdate keeps a module immutable: only metadata changes.
func validateModuleUpdate(m, old *v1.PolicyModule) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&m.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	// The bytes are write-only: an update may leave them, the size and the
	// hooks out, or send them as they are.
	s := m.Spec
	if (len(s.Wasm) > 0 && v1.Digest(s.Wasm) != v1.DigestOf(old.Name)) || (s.Size != 0 && s.Size != old.Spec.Size) ||
		(s.Hooks != nil && !slices.Equal(s.Hooks, old.Spec.Hooks)) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "a policy module is immutable; upload a new one"))
	}
	m.Spec = *old.Spec.DeepCopy()
	return errs
}

// validatePolicy checks a SchedulingPolicy: a scheduler name Kubernetes
// accepts, not the default scheduler's, a module that exists and
// schedules, and for a shadow policy a scheduler to shadow other than
// itself.
func validatePolicy(kv allocator.KV, modules *registry.Resource, p *v1.SchedulingPolicy) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(&p.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if p.Name == "default-scheduler" {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), p.Name, "is the built-in scheduler's name"))
	}
	errs = append(errs, validateShadow(p)...)
	modPath := field.NewPath("spec", "module")
	if p.Spec.Module == "" {
		return append(errs, field.Required(modPath, `the content address ("sha256:<hex>") of a PolicyModule`))
	}
	if err := v1.ParseDigest(p.Spec.Module); err != nil {
		return append(errs, field.Invalid(modPath, p.Spec.Module, `must be a content address "sha256:<64 hex digits>"`))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := getModule(ctx, kv, modules, p.Spec.Module)
	if err != nil {
		if errors.Is(err, ErrModuleNotFound) {
			return append(errs, field.NotFound(modPath, p.Spec.Module))
		}
		return append(errs, field.InternalError(modPath, err))
	}
	if !slices.Contains(m.Spec.Hooks, v1.HookFilter) && !slices.Contains(m.Spec.Hooks, v1.HookScore) {
		errs = append(errs, field.Invalid(modPath, p.Spec.Module, fmt.Sprintf("the module implements %v, not filter or score: it is not a scheduler", m.Spec.Hooks)))
	}
	return errs
}

// validateShadow checks spec.shadowOf: set only on a shadow policy (the
// default fills it in), a scheduler name, and not the policy's own.
func validateShadow(p *v1.SchedulingPolicy) field.ErrorList {
	path := field.NewPath("spec", "shadowOf")
	of := p.Spec.ShadowOf
	switch {
	case !p.Spec.Shadow && of != "":
		return field.ErrorList{field.Forbidden(path, "only a shadow policy (spec.shadow: true) runs beside another scheduler")}
	case !p.Spec.Shadow:
		return nil
	case of == "":
		return field.ErrorList{field.Required(path, "the scheduler to run beside")}
	case of == p.Name:
		return field.ErrorList{field.Invalid(path, of, "must not name the policy itself: a shadow policy places no pods of its own")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(of) {
		errs = append(errs, field.Invalid(path, of, msg))
	}
	return errs
}

// getModule reads the PolicyModule object of a content address.
func getModule(ctx context.Context, kv allocator.KV, modules *registry.Resource, digest string) (*v1.PolicyModule, error) {
	resp, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte(modules.Key("", v1.ObjectName(digest)))})
	if err != nil {
		return nil, fmt.Errorf("resources: read policy module %s: %w", digest, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrModuleNotFound, digest)
	}
	var m v1.PolicyModule
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		return nil, fmt.Errorf("resources: decode policy module %s: %w", digest, err)
	}
	return &m, nil
}
