package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-sh/skiff/raftstore"
)

// InitialEventsEndAnnotation marks the bookmark that ends a watch-list's
// initial events.
const InitialEventsEndAnnotation = metav1.InitialEventsAnnotationKey

// BookmarkInterval is how often an idle watch that allows bookmarks gets
// one (kube-apiserver sends them about once a minute).
var BookmarkInterval = time.Minute

// Watch streams the changes to the objects of namespace ("" for all) that
// match the selectors, with Kubernetes' resourceVersion rules: unset or "0"
// starts with the current objects as ADDED events; N starts after N (410
// Gone past compaction); sendInitialEvents lists first and ends the
// initial events with an annotated bookmark. Events come from the local
// replica's history, in revision order, none lost or repeated. An object
// that stops matching the selectors is reported DELETED, one that starts
// matching ADDED, as kube-apiserver's watch cache does.
func (s *Store) Watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	sel, err := parseSelection(opts)
	if err != nil {
		return nil, err
	}
	if err := s.checkFields(sel, s.res.New()); err != nil {
		return nil, err
	}
	initial := opts.ResourceVersion == "" || opts.ResourceVersion == "0"
	if opts.SendInitialEvents != nil {
		if *opts.SendInitialEvents && (!opts.AllowWatchBookmarks || opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan) {
			return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", field.ErrorList{
				field.Forbidden(field.NewPath("sendInitialEvents"), "sendInitialEvents is forbidden for watch unless allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan"),
			})
		}
		initial = *opts.SendInitialEvents
	} else if opts.ResourceVersionMatch != "" {
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	}
	prefix := s.res.ListPrefix(namespace)
	var items []runtime.Object
	var from int64
	switch {
	case initial:
		listOpts := metav1.ListOptions{ResourceVersion: opts.ResourceVersion}
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			listOpts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
		}
		rev, linearizable, err := s.readRevision(listOpts)
		if err != nil {
			return nil, err
		}
		atLeast := int64(0)
		if rev < 0 {
			atLeast, rev = -rev, 0
		}
		var listRev int64
		items, listRev, _, _, err = s.rangeObjects(ctx, prefix, clientv3.GetPrefixRangeEnd(prefix), rev, linearizable, 0, sel)
		if err != nil {
			return nil, storeErr(err)
		}
		if listRev < atLeast {
			return nil, tooLarge(opts.ResourceVersion)
		}
		from = listRev
	case opts.ResourceVersion == "":
		from = s.kv.Rev()
	default:
		n, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || n < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion))
		}
		from = n
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.kv.Watch(wctx, raftstore.WatchRequest{
		Key: []byte(prefix), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(prefix)),
		StartRevision: from + 1, PrevKV: true,
		ProgressNotify: opts.AllowWatchBookmarks, ProgressInterval: BookmarkInterval,
	})
	if err != nil {
		cancel()
		return nil, storeErr(err)
	}
	sw := &storeWatch{
		s: s, sel: sel, w: w, cancel: cancel,
		out: make(chan watch.Event, 64), done: make(chan struct{}),
		bookmarks: opts.AllowWatchBookmarks,
	}
	go sw.run(wctx, items, from, initial && opts.SendInitialEvents != nil)
	return sw, nil
}

type storeWatch struct {
	s         *Store
	namesOnly bool
	sel       selection
	w         *raftstore.Watcher
	cancel    context.CancelFunc
	out       chan watch.Event
	done      chan struct{}
	bookmarks bool
}

// Stop ends the watch; ResultChan is closed once it has stopped.
func (sw *storeWatch) Stop() {
	sw.cancel()
	<-sw.done
}

// ResultChan delivers the events.
func (sw *storeWatch) ResultChan() <-chan watch.Event { return sw.out }

func (sw *storeWatch) run(ctx context.Context, items []runtime.Object, from int64, endBookmark bool) {
	defer close(sw.done)
	defer close(sw.out)
	defer sw.w.Close()
	send := func(ev watch.Event) bool {
		select {
		case sw.out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, obj := range items {
		if !send(watch.Event{Type: watch.Added, Object: obj}) {
			return
		}
	}
	if endBookmark {
		bm := sw.bookmark(from)
		m, _ := metaOf(bm)
		m.SetAnnotations(map[string]string{InitialEventsEndAnnotation: "true"})
		if !send(watch.Event{Type: watch.Bookmark, Object: bm}) {
			return
		}
	}
	for resp := range sw.w.C {
		if resp.Canceled || resp.Err != nil {
			if errors.Is(resp.Err, raftstore.ErrCompacted) || resp.CompactRevision > 0 {
				st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, resp.CompactRevision)).ErrStatus
				send(watch.Event{Type: watch.Error, Object: &st})
			} else if resp.Err != nil && ctx.Err() == nil {
				st := apierrors.NewInternalError(resp.Err).ErrStatus
				send(watch.Event{Type: watch.Error, Object: &st})
			}
			return
		}
		if len(resp.Events) == 0 {
			if sw.bookmarks && resp.Header != nil {
				if !send(watch.Event{Type: watch.Bookmark, Object: sw.bookmark(resp.Header.Revision)}) {
					return
				}
			}
			continue
		}
		for _, ev := range resp.Events {
			out, ok, err := sw.convert(ev)
			if err != nil {
				st := apierrors.NewInternalError(err).ErrStatus
				send(watch.Event{Type: watch.Error, Object: &st})
				return
			}
			if ok && !send(out) {
				return
			}
		}
	}
}

// bookmark is an empty object of the watched kind at revision rev.
func (sw *storeWatch) bookmark(rev int64) runtime.Object {
	obj := sw.s.res.New()
	obj.GetObjectKind().SetGroupVersionKind(sw.s.res.Kind)
	m, _ := metaOf(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj
}

// convert turns a store event into a watch event, applying the selectors
// to the object before and after.
func (sw *storeWatch) convert(ev *mvccpb.Event) (watch.Event, bool, error) {
	if sw.namesOnly {
		return sw.name(ev), true, nil
	}
	var cur, prev runtime.Object
	var err error
	rev := ev.Kv.ModRevision
	if ev.Type == mvccpb.PUT {
		if cur, err = sw.s.decode(ev.Kv, rev); err != nil {
			return watch.Event{}, false, err
		}
	}
	// The previous version matters for deletes and for selector
	// transitions; without a selector a put needs only the new version.
	if ev.PrevKv != nil && (ev.Type == mvccpb.DELETE || !sw.sel.everything()) {
		if prev, err = sw.s.decode(ev.PrevKv, rev); err != nil {
			return watch.Event{}, false, err
		}
	}
	curOK := cur != nil && sw.s.matches(sw.sel, cur)
	prevOK := prev != nil && sw.s.matches(sw.sel, prev)
	if prev == nil && ev.Type == mvccpb.PUT && ev.Kv.CreateRevision != ev.Kv.ModRevision {
		// An update whose previous version was not decoded (no selector:
		// it matched) or is compacted away (it may have matched: a
		// DELETED for an object the client never saw is harmless).
		prevOK = true
	}
	switch {
	case ev.Type == mvccpb.DELETE:
		if prevOK {
			return watch.Event{Type: watch.Deleted, Object: prev}, true, nil
		}
	case curOK && prevOK:
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	case curOK:
		return watch.Event{Type: watch.Added, Object: cur}, true, nil
	case prevOK:
		return watch.Event{Type: watch.Deleted, Object: cur}, true, nil
	}
	return watch.Event{}, false, nil
}

// WatchNames streams which objects change after revision from (0: now):
// each event's object is a PartialObjectMetadata with only the namespace,
// name and resourceVersion, read from the store key without decoding the
// object. It suits watchers that only need to know what to look at again.
func (s *Store) WatchNames(ctx context.Context, from int64) (watch.Interface, error) {
	if from <= 0 {
		from = s.kv.Rev()
	}
	prefix := s.res.ListPrefix("")
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.kv.Watch(wctx, raftstore.WatchRequest{Key: []byte(prefix), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(prefix)), StartRevision: from + 1})
	if err != nil {
		cancel()
		return nil, storeErr(err)
	}
	sw := &storeWatch{s: s, namesOnly: true, w: w, cancel: cancel, out: make(chan watch.Event, 64), done: make(chan struct{})}
	go sw.run(wctx, nil, from, false)
	return sw, nil
}

func (sw *storeWatch) name(ev *mvccpb.Event) watch.Event {
	rest := strings.TrimPrefix(string(ev.Kv.Key), sw.s.res.Prefix+"/")
	m := &metav1.PartialObjectMetadata{}
	if ns, name, ok := strings.Cut(rest, "/"); ok && sw.s.res.Namespaced {
		m.Namespace, m.Name = ns, name
	} else {
		m.Name = rest
	}
	m.ResourceVersion = strconv.FormatInt(ev.Kv.ModRevision, 10)
	t := watch.Modified
	switch {
	case ev.Type == mvccpb.DELETE:
		t = watch.Deleted
	case ev.Kv.CreateRevision == ev.Kv.ModRevision:
		t = watch.Added
	}
	return watch.Event{Type: t, Object: m}
}
