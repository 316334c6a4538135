#!/usr/bin/env bash
# make up: a three-member Skiff control plane on loopback, with its data
# under $1, and the hello-world Deployment created through its Kubernetes
# API: the controllers make its ReplicaSet and pod. The node daemon comes
# with later work, so the pod stays Pending (no node to schedule it on).
set -euo pipefail
data=${1:-.data}
bin=${SKIFF_BIN:-bin/skiff}
mkdir -p "$data"
peers="n1=127.0.0.1:23801,n2=127.0.0.1:23802,n3=127.0.0.1:23803"
for i in 1 2 3; do
	if [[ -f "$data/n$i.pid" ]] && kill -0 "$(cat "$data/n$i.pid")" 2>/dev/null; then
		echo "n$i already running (pid $(cat "$data/n$i.pid"))"
		continue
	fi
	setsid "$bin" server --name "n$i" --data-dir "$data/n$i" \
		--raft-addr "127.0.0.1:2380$i" --client-addr "127.0.0.1:2379$i" --api-addr "127.0.0.1:644$((i + 2))" \
		--peers "$peers" >"$data/n$i.log" 2>&1 </dev/null &
	echo $! >"$data/n$i.pid"
done
endpoints=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
for _ in $(seq 100); do
	if grep -q "API serving" "$data"/n1.log 2>/dev/null; then
		if command -v etcdctl >/dev/null; then
			ETCDCTL_API=3 etcdctl --endpoints "$endpoints" put skiff/hello "$(date -u +%FT%TZ)" >/dev/null
			ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w table
		fi
		echo "Skiff store is up: etcdctl --endpoints $endpoints ...  (logs in $data/n*.log; make down stops it)"
		kc=(--kubeconfig "$data/n1/kubeconfig")
		for _ in $(seq 50); do "$bin" kubectl "${kc[@]}" get ns default >/dev/null 2>&1 && break; sleep 0.2; done
		if ! "$bin" kubectl "${kc[@]}" get deployment hello-world >/dev/null 2>&1; then
			"$bin" kubectl "${kc[@]}" create deployment hello-world --image=gcr.io/google-samples/hello-app:1.0
		fi
		for _ in $(seq 50); do
			[[ -n "$("$bin" kubectl "${kc[@]}" get pods -l app=hello-world -o name 2>/dev/null)" ]] && break
			sleep 0.2
		done
		"$bin" kubectl "${kc[@]}" get deploy,rs,pods -o wide
		echo "Kubernetes API: $bin kubectl --kubeconfig $data/n1/kubeconfig ...  (or kubectl with that kubeconfig)"
		echo "hello-world has its ReplicaSet and pod; the pod stays Pending until node daemons exist (issue 5): kubectl get events shows the scheduler's FailedScheduling."
		exit 0
	fi
	sleep 0.2
done
echo "store did not become healthy; see $data/n*.log" >&2
exit 1
