#!/usr/bin/env bash
# make up: the lab — three "VMs" (network namespaces on a bridge), each
# running `skiff server --with-node` (one three-member Raft cluster), with a
# registry mirror — and hello-world deployed on it with real kubectl, exposed
# as a Service, and reached from inside a VM.
set -euo pipefail
dir=${1:-.data/lab}
bin=${SKIFF_BIN:-bin/skiff}
kubectl=(kubectl)
command -v kubectl >/dev/null || kubectl=("$bin" kubectl)

"$bin" lab up --dir "$dir"
export KUBECONFIG=$dir/kubeconfig
if ! "${kubectl[@]}" get deployment hello-world >/dev/null 2>&1; then
	"${kubectl[@]}" create deployment hello-world --image=gcr.io/google-samples/hello-app:1.0
fi
if ! "${kubectl[@]}" get service hello-world >/dev/null 2>&1; then
	"${kubectl[@]}" expose deployment hello-world --port=80 --target-port=8080
fi
"${kubectl[@]}" rollout status deployment/hello-world --timeout=120s
"${kubectl[@]}" get nodes,deployments,pods,services -o wide
ip=$("${kubectl[@]}" get service hello-world -o jsonpath='{.spec.clusterIP}')
for _ in $(seq 50); do
	if out=$("$bin" lab exec --dir "$dir" vm2 -- wget -qO- -T 2 "http://$ip/" 2>/dev/null); then
		break
	fi
	sleep 0.2
done
echo
echo "From inside vm2: wget -qO- http://$ip/"
echo "$out"
cat <<EOT

hello-world runs on the lab. Try:
  export KUBECONFIG=$dir/kubeconfig
  kubectl scale deployment hello-world --replicas=6
  $bin lab exec vm2 -- wget -qO- http://$ip/
  kubectl set image deployment/hello-world hello-app=gcr.io/google-samples/hello-app:2.0
  $bin trace deployment hello-world
  make down
EOT
