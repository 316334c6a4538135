package site

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/site/playground"
	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/builtin"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/snapshot"
)

// APIPath is where the playground's server half is served: the live
// cluster as a snapshot, module bytes, and the server's decisions.
const APIPath = Path + "/api"

// BuiltinModule is the module reference of the built-in scheduler.
const BuiltinModule = "builtin"

// maxDecideBody caps a decide request: a base64 module and a snapshot.
const maxDecideBody = 40 << 20

// playgroundAPI serves APIPath. Every answer needs the caller's token: it
// is checked by calling the API in process with the caller's credentials.
type playgroundAPI struct {
	api        http.Handler
	readModule func(ctx context.Context, digest string) ([]byte, error)
	wasm       runtime.Config
	log        *slog.Logger
	now        func() time.Time
}

func (p *playgroundAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+APIPath+"/snapshot", p.snapshot)
	mux.HandleFunc("GET "+APIPath+"/modules/{name}", p.module)
	mux.HandleFunc("POST "+APIPath+"/decide", p.decide)
}

// apiError is an answer of the API passed on as is (401, 403, 404, ...).
type apiError struct {
	code int
	body []byte
}

func (e *apiError) Error() string {
	return fmt.Sprintf("API answered %d: %s", e.code, bytes.TrimSpace(e.body))
}

// get serves a GET of path on the API with orig's credentials and decodes
// the JSON answer into v.
func (p *playgroundAPI) get(orig *http.Request, path string, v any) error {
	req, err := http.NewRequestWithContext(orig.Context(), http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("site: request for %s: %w", path, err)
	}
	req.Host, req.RemoteAddr = orig.Host, orig.RemoteAddr
	req.RequestURI = req.URL.RequestURI()
	if a := orig.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set("Accept", "application/json")
	rec := &recorder{header: http.Header{}}
	p.api.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code != http.StatusOK {
		return &apiError{code: rec.code, body: rec.body.Bytes()}
	}
	if err := json.Unmarshal(rec.body.Bytes(), v); err != nil {
		return fmt.Errorf("site: decode the API's answer to %s: %w", path, err)
	}
	return nil
}

// list pages through a list of T ("items" and "metadata.continue").
func list[T any](p *playgroundAPI, r *http.Request, path string) ([]T, error) {
	var all []T
	cont := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cont != "" {
			q.Set("continue", cont)
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []T `json:"items"`
		}
		if err := p.get(r, path+"?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if cont = page.Metadata.Continue; cont == "" {
			return all, nil
		}
	}
}

// fail answers err: an API refusal as the API worded it, anything else
// with code and the message as a Status-shaped JSON.
func (p *playgroundAPI) fail(w http.ResponseWriter, code int, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ae.code)
		w.Write(ae.body)
		return
	}
	if code >= 500 {
		p.log.Warn("playground request failed", "err", err)
	}
	writeJSON(w, code, map[string]any{"kind": "Status", "code": code, "message": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// snapshot answers the live cluster as a wasm/snapshot document, read
// with the caller's credentials.
func (p *playgroundAPI) snapshot(w http.ResponseWriter, r *http.Request) {
	nodes, err := list[corev1.Node](p, r, "/api/v1/nodes")
	if err != nil {
		p.fail(w, http.StatusBadGateway, err)
		return
	}
	pods, err := list[corev1.Pod](p, r, "/api/v1/pods")
	if err != nil {
		p.fail(w, http.StatusBadGateway, err)
		return
	}
	s := snapshot.FromObjects(nodes, pods, p.now(), r.Host)
	w.Header().Set("Content-Type", "application/json")
	if err := s.Encode(w); err != nil {
		p.log.Debug("playground snapshot not sent", "err", err)
	}
}

// authorize checks the caller may read nodes (what a snapshot needs).
func (p *playgroundAPI) authorize(r *http.Request) error {
	var v json.RawMessage
	return p.get(r, "/api/v1/nodes?limit=1", &v)
}

// moduleBytes resolves a module reference: BuiltinModule, a PolicyModule
// name ("sha256-<hex>") or content address ("sha256:<hex>"). An uploaded
// module is first read as an object with the caller's credentials.
func (p *playgroundAPI) moduleBytes(r *http.Request, ref string) ([]byte, int, error) {
	if ref == BuiltinModule || ref == BuiltinModule+"-scheduler.wasm" {
		if err := p.authorize(r); err != nil {
			return nil, http.StatusBadGateway, err
		}
		b, err := builtin.Scheduler()
		if err != nil {
			return nil, http.StatusNotFound, err
		}
		return b, 0, nil
	}
	ref = strings.TrimSuffix(ref, ".wasm")
	digest := ref
	if !strings.HasPrefix(ref, "sha256:") {
		digest = skiffv1alpha1.DigestOf(ref)
	}
	if err := skiffv1alpha1.ParseDigest(digest); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("site: module %q: %w", ref, err)
	}
	var obj skiffv1alpha1.PolicyModule
	if err := p.get(r, "/apis/skiff.dev/v1alpha1/policymodules/"+skiffv1alpha1.ObjectName(digest), &obj); err != nil {
		return nil, http.StatusBadGateway, err
	}
	if p.readModule == nil {
		return nil, http.StatusNotImplemented, errors.New("site: this server cannot read uploaded modules' bytes (no module reader configured)")
	}
	b, err := p.readModule(r.Context(), digest)
	if err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("site: read module %s: %w", digest, err)
	}
	return b, 0, nil
}

// module answers a module's bytes: builtin-scheduler.wasm or an uploaded
// module by PolicyModule name.
func (p *playgroundAPI) module(w http.ResponseWriter, r *http.Request) {
	b, code, err := p.moduleBytes(r, r.PathValue("name"))
	if err != nil {
		p.fail(w, code, err)
		return
	}
	w.Header().Set("Content-Type", "application/wasm")
	w.Write(b)
}

// DecideRequest asks for the server's decisions: Module names the module
// (BuiltinModule, a PolicyModule name or content address) unless Wasm
// carries its bytes (a local file).
type DecideRequest struct {
	Snapshot json.RawMessage `json:"snapshot"`
	Module   string          `json:"module,omitempty"`
	Wasm     []byte          `json:"wasm,omitempty"`
}

// DecideResponse is a playground.Result computed by wasm/snapshot.Replay
// with the module in wazero, and the module's hooks and info.
type DecideResponse struct {
	*playground.Result
	Hooks playground.Hooks `json:"hooks"`
	Info  abi.Info         `json:"info"`
}

// decide replays the snapshot's pending pods through the module on the
// server (wazero, wasm/snapshot.Replay), for the browser to compare.
func (p *playgroundAPI) decide(w http.ResponseWriter, r *http.Request) {
	var req DecideRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDecideBody))
	if err != nil {
		p.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("site: read decide request: %w", err))
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		p.fail(w, http.StatusBadRequest, fmt.Errorf("site: decode decide request: %w", err))
		return
	}
	if err := p.authorize(r); err != nil {
		p.fail(w, http.StatusBadGateway, err)
		return
	}
	// The request's own mistakes next, whatever becomes of the module.
	s, err := snapshot.Decode(bytes.NewReader(req.Snapshot))
	if err != nil {
		p.fail(w, http.StatusBadRequest, err)
		return
	}
	wasm := req.Wasm
	if len(wasm) == 0 {
		var code int
		if wasm, code, err = p.moduleBytes(r, req.Module); err != nil {
			p.fail(w, code, err)
			return
		}
	}
	res, err := p.replay(r.Context(), s, wasm)
	if err != nil {
		p.fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// replay loads wasm in a host of its own (closed before returning) and
// replays s through it.
func (p *playgroundAPI) replay(ctx context.Context, s *snapshot.Snapshot, wasm []byte) (*DecideResponse, error) {
	host, err := runtime.New(ctx, p.wasm)
	if err != nil {
		return nil, fmt.Errorf("site: start the wasm runtime: %w", err)
	}
	defer host.Close(context.WithoutCancel(ctx))
	m, err := host.Load(ctx, "playground", wasm, runtime.ModuleOptions{})
	if err != nil {
		return nil, err
	}
	defer m.Close(context.WithoutCancel(ctx))
	hooks := m.Hooks()
	if !hooks.Filter && !hooks.Score {
		return nil, errors.New("site: module has no scheduler hooks")
	}
	outcomes, err := snapshot.Replay(ctx, s, m, noPolicy{}, snapshot.Options{})
	if err != nil {
		return nil, err
	}
	res := &DecideResponse{Result: &playground.Result{Nodes: make([]string, len(s.Nodes)), Decisions: make([]playground.Decision, len(outcomes))},
		Hooks: playground.Hooks{Filter: hooks.Filter, Score: hooks.Score}, Info: m.Info()}
	for i := range s.Nodes {
		res.Nodes[i] = s.Nodes[i].Name
	}
	for i, oc := range outcomes {
		d := oc.Module
		pd := playground.Decision{Pod: oc.Pod, Node: d.Node, Best: d.Best, Score: d.Score, Feasible: d.Feasible, Error: d.Err, Scores: d.Scores}
		if d.Err == "" {
			pd.Verdicts = make([]playground.Verdict, len(d.Verdicts))
			for j, v := range d.Verdicts {
				pd.Verdicts[j] = playground.Verdict(v)
			}
		}
		res.Decisions[i] = pd
	}
	return res, nil
}

// noPolicy is the replay's reference when only the module's decisions are
// wanted: every node feasible, every score 0, at no cost.
type noPolicy struct{}

func (noPolicy) Schedule(_ context.Context, in *abi.Input, out *abi.Result) error {
	out.Reset(len(in.Nodes))
	for i := range out.Verdicts {
		out.Verdicts[i] = abi.NodeVerdict{Verdict: abi.Feasible}
		out.Feasible = append(out.Feasible, uint32(i))
		out.Scores = append(out.Scores, 0)
	}
	return nil
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// builtinBytes is the embedded built-in scheduler (ErrNotBuilt without
// `make wasm`).
func builtinBytes() ([]byte, error) { return builtin.Scheduler() }
