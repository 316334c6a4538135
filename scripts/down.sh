#!/usr/bin/env bash
# make down: stop what `make up` started and remove its data.
set -euo pipefail
data=${1:-.data}
for pidfile in "$data"/n*.pid; do
	[[ -f "$pidfile" ]] || continue
	pid=$(cat "$pidfile")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
done
rm -rf "$data"
echo "stopped and removed $data"
