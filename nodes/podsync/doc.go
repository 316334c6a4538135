// Package podsync is the heart of the node daemon, what the kubelet's pod
// workers are to Kubernetes: it makes the pods bound to this node run, and
// reports how they do.
//
// Each pod has a worker that reconciles the pod's spec with what runs: it
// wires the pod's network (Network), pulls images by imagePullPolicy, runs
// init containers in order and then the containers (Runtime), restarts them
// by restartPolicy with CrashLoopBackOff (10 s doubling to 5 min, reset
// after 10 min of running), probes them (package probe), and writes the
// pod's status — phase, conditions, IPs, container statuses — only when it
// changed. A pod being deleted is stopped with its grace period (SIGTERM,
// then SIGKILL), unwired, and its deletion confirmed. Workers wake on pod
// changes, container exits, probe verdicts and back-off timers; nothing
// polls except a slow resync.
//
// A restarted daemon adopts what runs: containers are found by their
// labels and addresses by the network's records, so nothing restarts and
// nothing is re-addressed. The kubelet's events (Pulling, Pulled, Created,
// Started, Killing, BackOff, Unhealthy, …) go to the API.
package podsync
