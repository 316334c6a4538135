// Package informer gives in-process controllers client-go's shared,
// indexed informers over the registry, without the API server in between.
//
// A cache.ListWatch calls registry.Store.List and Store.Watch directly.
// Those follow Kubernetes' resourceVersion rules (410 Expired past
// compaction, bookmarks, sendInitialEvents), so client-go's Reflector works
// unchanged: it lists (or watch-lists), watches from the list's revision,
// and lists again when a watch fails, delivering objects that vanished
// meanwhile as cache.DeletedFinalStateUnknown. No controller writes its own
// list+watch+relist loop.
//
// How a controller uses it, as with informers.SharedInformerFactory:
//
//	f := informer.NewFactory(reg, 0, logger) // one per leadership term
//	inf, err := f.For(appsv1.SchemeGroupVersion.WithResource("replicasets"))
//	h, err := inf.AddEventHandler(handlers)  // enqueue keys, never block
//	f.Start(ctx)                             // starts what was asked for
//	cache.WaitFor(ctx, "", h.HasSyncedChecker()) // handler saw the list
//	... workers read inf.GetIndexer() (ByIndex(cache.NamespaceIndex, ns)) ...
//	<-ctx.Done(); f.Shutdown()                 // waits for the informers
//
// Handlers must accept cache.DeletedFinalStateUnknown in OnDelete, and an
// OnUpdate whose old and new objects have different UIDs (an object
// deleted and recreated under its name while a watch was down). Objects in
// the caches are shared: copy before changing them. Decisions that must
// not act on stale state read the store (linearizable) before writing.
//
// Names informers (Factory.NamesFor, NewNames) keep only the namespace,
// name and resourceVersion of each object, as metav1.PartialObjectMetadata:
// their watches read store keys and never decode objects, for controllers
// that only need to know what changed.
//
// Informers are started with a context and cannot be restarted: a factory
// serves one run (for leader-only controllers, one leadership term).
package informer
