package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/raftstore"
)

// selection is a parsed label and field selector.
type selection struct {
	labels labels.Selector
	fields fields.Selector
}

func parseSelection(opts metav1.ListOptions) (selection, error) {
	sel := selection{labels: labels.Everything(), fields: fields.Everything()}
	var err error
	if opts.LabelSelector != "" {
		if sel.labels, err = labels.Parse(opts.LabelSelector); err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
	}
	if opts.FieldSelector != "" {
		if sel.fields, err = fields.ParseSelector(opts.FieldSelector); err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
	}
	return sel, nil
}

func (sel selection) everything() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (s *Store) matches(sel selection, obj runtime.Object) bool {
	if sel.everything() {
		return true
	}
	l, f := s.res.attrs(obj)
	return sel.labels.Matches(labels.Set(l)) && sel.fields.Matches(f)
}

// checkFields rejects field selectors on fields the resource does not have,
// as kube-apiserver does.
func (s *Store) checkFields(sel selection, probe runtime.Object) error {
	_, known := s.res.attrs(probe)
	for _, r := range sel.fields.Requirements() {
		if _, ok := known[r.Field]; !ok {
			return apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	return nil
}

// continueToken is kube-apiserver's continue token: the list's revision and
// the key to resume at, relative to the list's prefix.
type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	StartKey   string `json:"start"`
}

func encodeContinue(rev int64, startKey string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, StartKey: startKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.APIVersion != "meta.k8s.io/v1" || t.Revision <= 0 || strings.Contains(t.StartKey, "..") {
		return t, apierrors.NewBadRequest("continue key is not valid: the continue parameter was not produced by this server")
	}
	return t, nil
}

// readRevision decides the revision and consistency of a list or of the
// initial state of a watch from resourceVersion and resourceVersionMatch:
// 0 and linearizable for the latest state, else the revision to read at (0
// meaning the latest local state).
func (s *Store) readRevision(opts metav1.ListOptions) (rev int64, linearizable bool, err error) {
	switch {
	case opts.ResourceVersion == "":
		if opts.ResourceVersionMatch != "" {
			return 0, false, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		return 0, true, nil
	}
	n, perr := strconv.ParseInt(opts.ResourceVersion, 10, 64)
	if perr != nil || n < 0 {
		return 0, false, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion))
	}
	switch opts.ResourceVersionMatch {
	case metav1.ResourceVersionMatchExact:
		if n == 0 {
			return 0, false, apierrors.NewBadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
		}
		return n, false, nil
	case "", metav1.ResourceVersionMatchNotOlderThan:
		if n == 0 || s.kv.Rev() >= n {
			return 0, false, nil
		}
		return -n, true, nil // linearize, then require at least n
	default:
		return 0, false, apierrors.NewBadRequest(fmt.Sprintf("unknown resourceVersionMatch %q", opts.ResourceVersionMatch))
	}
}

// List lists the objects of namespace ("" for all) that match the
// selectors, at one revision, in pages of opts.Limit.
func (s *Store) List(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	sel, err := parseSelection(opts)
	if err != nil {
		return nil, err
	}
	if err := s.checkFields(sel, s.res.New()); err != nil {
		return nil, err
	}
	prefix := s.res.ListPrefix(namespace)
	start := prefix
	var rev int64
	linearizable := false
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		rev, start = tok.Revision, prefix+tok.StartKey
		linearizable = s.kv.Rev() < rev
	} else {
		if rev, linearizable, err = s.readRevision(opts); err != nil {
			return nil, err
		}
	}
	atLeast := int64(0)
	if rev < 0 {
		atLeast, rev = -rev, 0
	}
	items, listRev, next, remaining, err := s.rangeObjects(ctx, start, clientv3.GetPrefixRangeEnd(prefix), rev, linearizable, opts.Limit, sel)
	if err != nil {
		if errors.Is(err, raftstore.ErrCompacted) {
			if opts.Continue != "" {
				return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %s", opts.ResourceVersion))
		}
		if errors.Is(err, raftstore.ErrFutureRev) {
			return nil, tooLarge(opts.ResourceVersion)
		}
		return nil, err
	}
	if listRev < atLeast {
		return nil, tooLarge(opts.ResourceVersion)
	}
	list := s.res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(strconv.FormatInt(listRev, 10))
	if next != "" {
		lm.SetContinue(encodeContinue(listRev, strings.TrimPrefix(next, prefix)))
		if sel.everything() && remaining > 0 {
			lm.SetRemainingItemCount(&remaining)
		}
	}
	return list, nil
}

func tooLarge(rv string) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %s, current: later", rv), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// rangeObjects reads [start, end) at rev (0: latest) and returns up to
// limit (0: all) matching objects, the revision read, the key to continue
// at ("" at the end) and how many keys remain after it.
func (s *Store) rangeObjects(ctx context.Context, start, end string, rev int64, linearizable bool, limit int64, sel selection) ([]runtime.Object, int64, string, int64, error) {
	var items []runtime.Object
	key := start
	batch := limit
	if batch > 0 && !sel.everything() {
		batch = max(batch, 256)
	}
	for {
		resp, err := s.kv.Range(ctx, &pb.RangeRequest{
			Key: []byte(key), RangeEnd: []byte(end), Revision: rev, Limit: batch,
			Serializable: !linearizable,
		})
		if err != nil {
			return nil, 0, "", 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		linearizable = false
		for i, kv := range resp.Kvs {
			obj, err := s.decode(kv, kv.ModRevision)
			if err != nil {
				return nil, 0, "", 0, err
			}
			if !s.matches(sel, obj) {
				continue
			}
			items = append(items, obj)
			if limit > 0 && int64(len(items)) == limit {
				left := resp.Count - int64(i) - 1
				if left == 0 {
					return items, rev, "", 0, nil
				}
				return items, rev, string(kv.Key) + "\x00", left, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return items, rev, "", 0, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
