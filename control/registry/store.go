package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/api/scheme"
	"github.com/skiff-sh/skiff/raftstore"
)

// KV is what the registry needs of the replicated store; *raftstore.Store
// has it.
type KV interface {
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
	Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error)
	Watch(ctx context.Context, req raftstore.WatchRequest) (*raftstore.Watcher, error)
	Rev() int64
}

// Store reads and writes the objects of one resource.
type Store struct {
	kv  KV
	res *Resource
	// Now is the clock for timestamps (tests replace it).
	Now func() time.Time
	// NamespaceReady, if set, is asked before creating in a namespace; it
	// returns a status error for a missing or terminating namespace.
	NamespaceReady func(ctx context.Context, namespace string) error
	// NamespaceKey, if set, is the store key of a namespace: a create in a
	// namespace commits only while that key exists.
	NamespaceKey func(namespace string) string
	// Fields, if set, records metadata.managedFields on every write.
	Fields FieldTracker
}

// NewStore returns the store of resource r on kv.
func NewStore(kv KV, r *Resource) *Store {
	return &Store{kv: kv, res: r, Now: time.Now}
}

// Resource is the resource this store serves.
func (s *Store) Resource() *Resource { return s.res }

func errNotObject(obj runtime.Object) error {
	return apierrors.NewInternalError(fmt.Errorf("registry: %T has no object metadata", obj))
}

// encode serializes obj for the store as Kubernetes protobuf, as
// kube-apiserver stores it in etcd, or as JSON for a resource with
// JSONStorage. The resourceVersion is not stored: it is the key's mod
// revision.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	obj.GetObjectKind().SetGroupVersionKind(s.res.Kind)
	if s.res.ToStorage != nil {
		obj = s.res.ToStorage(obj)
		obj.GetObjectKind().SetGroupVersionKind(s.res.Storage)
	}
	var buf bytes.Buffer
	if err := s.codec().Encode(obj, &buf); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("registry: encode %s: %w", s.res.Plural, err))
	}
	return buf.Bytes(), nil
}

// codec is the storage serializer of the resource.
func (s *Store) codec() runtime.Serializer {
	if s.res.JSONStorage {
		return scheme.JSON
	}
	return scheme.Protobuf
}

// decode reads a stored object and sets its resourceVersion.
func (s *Store) decode(kv *mvccpb.KeyValue, rev int64) (runtime.Object, error) {
	newObj := s.res.New
	if s.res.NewStorage != nil {
		newObj = s.res.NewStorage
	}
	out, _, err := s.codec().Decode(kv.Value, nil, newObj())
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("registry: decode %s: %w", kv.Key, err))
	}
	if s.res.FromStorage != nil {
		out = s.res.FromStorage(out)
	}
	m, err := metaOf(out)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	out.GetObjectKind().SetGroupVersionKind(s.res.Kind)
	return out, nil
}

// storeErr turns a store failure into a status error.
func storeErr(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, raftstore.ErrTimeout), errors.Is(err, raftstore.ErrLeaderChanged):
		// The outcome of a write is unknown: it may yet be applied.
		return apierrors.NewTimeoutError(fmt.Sprintf("store: %v; the request may or may not have been applied", err), 1)
	case errors.Is(err, raftstore.ErrRequestTooLarge):
		return apierrors.NewRequestEntityTooLargeError(err.Error())
	case errors.Is(err, raftstore.ErrNoLeader), errors.Is(err, raftstore.ErrStopped), errors.Is(err, raftstore.ErrNotLeader):
		return apierrors.NewServiceUnavailable(fmt.Sprintf("store unavailable: %v", err))
	}
	return apierrors.NewInternalError(fmt.Errorf("store: %w", err))
}

// Get returns the named object, read linearizably.
func (s *Store) Get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	obj, _, err := s.get(ctx, namespace, name)
	return obj, err
}

// GetLocal returns the named object as the local replica has it
// (serializable: possibly behind the cluster).
func (s *Store) GetLocal(ctx context.Context, namespace, name string) (runtime.Object, error) {
	obj, _, err := s.read(ctx, namespace, name, true)
	return obj, err
}

// get returns the object and its mod revision; NotFound if absent.
func (s *Store) get(ctx context.Context, namespace, name string) (runtime.Object, int64, error) {
	return s.read(ctx, namespace, name, false)
}

func (s *Store) read(ctx context.Context, namespace, name string, local bool) (runtime.Object, int64, error) {
	resp, err := s.kv.Range(ctx, &pb.RangeRequest{Key: []byte(s.res.Key(namespace, name)), Serializable: local})
	if err != nil {
		return nil, 0, storeErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, apierrors.NewNotFound(s.res.GroupResource(), name)
	}
	obj, err := s.decode(resp.Kvs[0], resp.Kvs[0].ModRevision)
	return obj, resp.Kvs[0].ModRevision, err
}

// CreateOptions are the parameters of a create.
type CreateOptions struct {
	DryRun bool
	// FieldManager names the writer in metadata.managedFields.
	FieldManager string
	// Applied marks an object a server-side apply already merged and
	// recorded: its managedFields are taken as they are.
	Applied bool
}

// FieldTracker records field ownership (metadata.managedFields);
// control/fieldmanager implements it.
type FieldTracker interface {
	Update(gvk schema.GroupVersionKind, live, obj runtime.Object, manager, subresource string) runtime.Object
}

// track records manager's changes from live to obj.
func (s *Store) track(live, obj runtime.Object, manager, subresource string, applied bool) (runtime.Object, metav1.Object) {
	if s.Fields != nil && !applied {
		obj = s.Fields.Update(s.res.Kind, live, obj, manager, subresource)
	}
	m, _ := metaOf(obj)
	return obj, m
}

// Create stores a new object in namespace (ignored for cluster-scoped
// resources). It fills in uid, creationTimestamp, generation and a
// generated name, defaults and validates, and answers the stored object.
func (s *Store) Create(ctx context.Context, namespace string, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	if err := s.checkNamespace(m, namespace); err != nil {
		return nil, err
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
	}
	m.SetUID(types.UID(uuid.NewString()))
	m.SetResourceVersion("")
	m.SetCreationTimestamp(metav1.NewTime(s.Now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	if s.res.Generation {
		m.SetGeneration(1)
	}
	if s.res.Default != nil {
		s.res.Default(obj)
	}
	if s.res.PrepareForCreate != nil {
		s.res.PrepareForCreate(obj)
	}
	obj, m = s.track(s.res.New(), obj, opts.FieldManager, "", opts.Applied)
	if err := s.validate(m, func() field.ErrorList { return call1(s.res.Validate, obj) }); err != nil {
		return nil, err
	}
	if s.res.Namespaced && s.NamespaceReady != nil {
		if err := s.NamespaceReady(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if opts.DryRun {
		return obj, nil
	}
	done, err := s.allocate(ctx, obj, nil)
	if err != nil {
		return nil, err
	}
	created := false
	defer func() { done(created) }()
	// A generated name that is taken is generated again, as kube-apiserver
	// retries it.
	generated := m.GetGenerateName() != "" && strings.HasPrefix(m.GetName(), m.GetGenerateName())
	for attempt := 0; ; attempt++ {
		rev, err := s.createOnce(ctx, obj, m)
		if apierrors.IsAlreadyExists(err) && generated && attempt < 8 {
			m.SetName(m.GetGenerateName() + utilrand.String(5))
			continue
		}
		if err != nil {
			return nil, err
		}
		created = true
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		return obj, nil
	}
}

// createOnce writes obj if its key is free (and its namespace exists) and
// returns the revision.
func (s *Store) createOnce(ctx context.Context, obj runtime.Object, m metav1.Object) (int64, error) {
	data, err := s.encode(obj)
	if err != nil {
		return 0, err
	}
	key := []byte(s.res.Key(m.GetNamespace(), m.GetName()))
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: data}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key, KeysOnly: true}}}},
	}
	if s.res.Namespaced && s.NamespaceKey != nil {
		// The namespace must still exist when the create commits.
		txn.Compare = append(txn.Compare, &pb.Compare{Key: []byte(s.NamespaceKey(m.GetNamespace())), Target: pb.Compare_CREATE,
			Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}})
	}
	resp, err := s.kv.Txn(ctx, txn)
	if err != nil {
		return 0, storeErr(err)
	}
	if !resp.Succeeded {
		if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 0 {
			return 0, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, m.GetNamespace())
		}
		return 0, apierrors.NewAlreadyExists(s.res.GroupResource(), m.GetName())
	}
	return resp.Header.Revision, nil
}

// checkNamespace reconciles the object's namespace with the request's.
func (s *Store) checkNamespace(m metav1.Object, namespace string) error {
	if !s.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	switch {
	case m.GetNamespace() == "":
		m.SetNamespace(namespace)
	case namespace != "" && m.GetNamespace() != namespace:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if m.GetNamespace() == "" {
		return apierrors.NewBadRequest("a namespace is required for " + s.res.Plural)
	}
	return nil
}

func call1(f func(runtime.Object) field.ErrorList, obj runtime.Object) field.ErrorList {
	if f == nil {
		return nil
	}
	return f(obj)
}

func call2(f func(a, b runtime.Object) field.ErrorList, a, b runtime.Object) field.ErrorList {
	if f == nil {
		return nil
	}
	return f(a, b)
}

// validate runs the checks every object gets plus the resource's own.
func (s *Store) validate(m metav1.Object, own func() field.ErrorList) error {
	var errs field.ErrorList
	if m.GetName() == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	}
	errs = append(errs, own()...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.res.Kind.GroupKind(), m.GetName(), dedupe(errs))
	}
	return nil
}

// dedupe drops errors reported twice (the generic and the resource's own
// checks may both see a missing name).
func dedupe(errs field.ErrorList) field.ErrorList {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		k := e.Error()
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// UpdateFunc computes the new object from the current one (nil when the
// object does not exist and the resource allows create on update). It must
// not modify current.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// UpdateOptions are the parameters of an update.
type UpdateOptions struct {
	DryRun bool
	// FieldManager names the writer in metadata.managedFields; Applied
	// marks a server-side apply's result (see CreateOptions).
	FieldManager string
	Applied      bool
	// CreateMissing lets the update create a missing object (server-side
	// apply does) whatever the resource's AllowCreateOnUpdate.
	CreateMissing bool
	// Subresource is "" for the object or "status".
	Subresource string
}

// Update replaces the named object with what tryUpdate makes of the
// current one, retrying on concurrent writes unless the new object names
// the resourceVersion it was based on (then a stale one is a 409). An
// update that changes nothing is not written.
func (s *Store) Update(ctx context.Context, namespace, name string, tryUpdate UpdateFunc, opts UpdateOptions) (runtime.Object, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, curRev, err := s.get(ctx, namespace, name)
		if apierrors.IsNotFound(err) && (s.res.AllowCreateOnUpdate || opts.CreateMissing) && opts.Subresource == "" {
			obj, err := tryUpdate(nil)
			if err != nil {
				return nil, false, err
			}
			created, err := s.Create(ctx, namespace, obj, CreateOptions{DryRun: opts.DryRun, FieldManager: opts.FieldManager, Applied: opts.Applied})
			if apierrors.IsAlreadyExists(err) && attempt < 10 {
				continue
			}
			return created, true, err
		}
		if err != nil {
			return nil, false, err
		}
		obj, err := tryUpdate(cur.DeepCopyObject())
		if err != nil {
			return nil, false, err
		}
		out, retry, err := s.update(ctx, namespace, name, obj, cur, curRev, opts)
		if retry && attempt < 100 {
			continue
		}
		return out, false, err
	}
}

// update writes obj over cur; retry reports a lost race on an
// unconditional update.
func (s *Store) update(ctx context.Context, namespace, name string, obj, cur runtime.Object, curRev int64, opts UpdateOptions) (runtime.Object, bool, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, false, err
	}
	old, _ := metaOf(cur)
	if err := s.checkNamespace(m, namespace); err != nil {
		return nil, false, err
	}
	if m.GetName() != name {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	conditional := m.GetResourceVersion() != ""
	if conditional && m.GetResourceVersion() != strconv.FormatInt(curRev, 10) {
		return nil, false, s.conflict(name)
	}
	if m.GetUID() != "" && m.GetUID() != old.GetUID() {
		return nil, false, apierrors.NewConflict(s.res.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", m.GetUID(), old.GetUID()))
	}
	// What the client may not change.
	m.SetResourceVersion(strconv.FormatInt(curRev, 10))
	m.SetUID(old.GetUID())
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	m.SetGeneration(old.GetGeneration())
	switch opts.Subresource {
	case "binding", "finalize":
		// Writes made by the server's own subresource handlers (a pod's
		// binding, a namespace's finalizers), validated there: the object
		// is written as the handler made it.
	case "status":
		// Only the status is written; everything else stays as stored.
		status := fieldOf(obj, "Status")
		rv := m.GetResourceVersion()
		obj = cur.DeepCopyObject()
		if status.IsValid() {
			fieldOf(obj, "Status").Set(status)
		}
		m, _ = metaOf(obj)
		m.SetResourceVersion(rv)
	default:
		if s.res.Status {
			if st := fieldOf(cur, "Status"); st.IsValid() {
				fieldOf(obj, "Status").Set(st)
			}
		}
		if s.res.Default != nil {
			s.res.Default(obj)
		}
		if s.res.PrepareForUpdate != nil {
			s.res.PrepareForUpdate(obj, cur)
		}
		if s.res.Generation {
			if spec := fieldOf(obj, "Spec"); spec.IsValid() && !apiequality.Semantic.DeepEqual(spec.Interface(), fieldOf(cur, "Spec").Interface()) {
				m.SetGeneration(old.GetGeneration() + 1)
			}
		}
	}
	switch opts.Subresource {
	case "":
		obj, m = s.track(cur, obj, opts.FieldManager, "", opts.Applied)
	case "status":
		obj, m = s.track(cur, obj, opts.FieldManager, "status", opts.Applied)
	}
	check := func() field.ErrorList { return call2(s.res.ValidateUpdate, obj, cur) }
	switch opts.Subresource {
	case "status":
		check = func() field.ErrorList { return call2(s.res.ValidateStatus, obj, cur) }
	case "binding", "finalize":
		check = func() field.ErrorList { return nil }
	}
	if err := s.validate(m, check); err != nil {
		return nil, false, err
	}
	// The last finalizer of a deleted object gone: the object goes.
	if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && s.graceDone(obj) && !s.res.finalizing(obj) {
		if opts.DryRun {
			return obj, false, nil
		}
		gone, err := s.deleteAt(ctx, obj, curRev)
		if errors.Is(err, errRaced) {
			return nil, !conditional, s.conflict(name)
		}
		return gone, false, err
	}
	m.SetResourceVersion(strconv.FormatInt(curRev, 10))
	if apiequality.Semantic.DeepEqual(obj, cur) || opts.DryRun {
		return obj, false, nil
	}
	done, err := s.allocate(ctx, obj, cur)
	if err != nil {
		return nil, false, err
	}
	out, err := s.writeAt(ctx, obj, curRev)
	done(err == nil)
	if errors.Is(err, errRaced) {
		return nil, !conditional, s.conflict(name)
	}
	return out, false, err
}

// allocate runs the resource's Allocate hook; done is never nil.
func (s *Store) allocate(ctx context.Context, obj, old runtime.Object) (func(bool), error) {
	if s.res.Allocate == nil {
		return func(bool) {}, nil
	}
	done, err := s.res.Allocate(ctx, obj, old)
	if err != nil {
		return nil, err
	}
	if done == nil {
		done = func(bool) {}
	}
	return done, nil
}

// graceDone reports that a terminating object's grace period has been
// confirmed (0), so removing its last finalizer deletes it.
func (s *Store) graceDone(obj runtime.Object) bool {
	m, _ := metaOf(obj)
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

var errRaced = errors.New("registry: object changed concurrently")

func (s *Store) conflict(name string) error {
	return apierrors.NewConflict(s.res.GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// writeAt stores obj if its key is still at revision rev.
func (s *Store) writeAt(ctx context.Context, obj runtime.Object, rev int64) (runtime.Object, error) {
	m, _ := metaOf(obj)
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	key := []byte(s.res.Key(m.GetNamespace(), m.GetName()))
	resp, err := s.kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: rev}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: data}}}},
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if !resp.Succeeded {
		return nil, errRaced
	}
	m.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return obj, nil
}

// deleteAt removes obj's key if it is still at revision rev, and answers
// the object as it was, with the deletion's revision.
func (s *Store) deleteAt(ctx context.Context, obj runtime.Object, rev int64) (runtime.Object, error) {
	m, _ := metaOf(obj)
	key := []byte(s.res.Key(m.GetNamespace(), m.GetName()))
	resp, err := s.kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: key, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: rev}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: key}}}},
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if !resp.Succeeded {
		return nil, errRaced
	}
	m.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	if s.res.Release != nil {
		s.res.Release(context.WithoutCancel(ctx), obj)
	}
	return obj, nil
}
