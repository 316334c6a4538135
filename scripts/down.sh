#!/usr/bin/env bash
# make down: stop everything `make up` started and remove every namespace,
# link, route, mount, cgroup and file the lab made.
set -euo pipefail
dir=${1:-.data/lab}
bin=${SKIFF_BIN:-bin/skiff}
if [[ ! -x "$bin" ]]; then
	echo "$bin is missing: make build first" >&2
	exit 1
fi
"$bin" lab down --dir "$dir"
