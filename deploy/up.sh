#!/usr/bin/env bash
# The one command that brings up the compose cluster from a fresh clone: builds the
# release `pyrite` binary, builds the images FROM scratch (deploy/build-images.sh),
# starts docker-compose.yml and waits until every service is healthy.
#
#   deploy/up.sh                 # build and start
#   PYRITE_BIN=path/to/pyrite deploy/up.sh   # images from a pyrite binary built already
#   docker-compose down --remove-orphans   # stop (-v also deletes the volumes: Raft logs, bucket)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The Prometheus agent and node-exporter images are Debian's binaries.
need_pkgs=()
[ -x /usr/bin/prometheus ] || need_pkgs+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || need_pkgs+=(prometheus-node-exporter)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v s3s-fs >/dev/null || [ -x "$HOME/.cargo/bin/s3s-fs" ] ||
  cargo install s3s-fs --version 0.14.1 --features binary --locked

if [ -z "${PYRITE_BIN:-}" ]; then
  echo "== cargo build --release -p pyrite"
  cargo build --release -p pyrite
  export PYRITE_BIN="$CARGO_TARGET_DIR/release/pyrite"
fi
echo "== images (pyrite from $PYRITE_BIN)"
deploy/build-images.sh
compose=(docker-compose)
front="http://localhost:${PYRITE_FRONTEND_PORT:-9009}"
echo "== ${compose[*]} up -d"
# `up -d` returns once every dependency a service waits on is healthy.
"${compose[@]}" up -d
for s in $("${compose[@]}" ps -q); do
  name=$(docker inspect --format '{{.Name}}' "$s")
  for _ in $(seq 120); do
    h=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$s")
    [ "$h" = healthy ] || [ "$h" = none ] && break
    sleep 1
  done
  echo "  ${name#/}: $h"
done
cat <<URLS

Pyrite is up.
  Grafana data source (query frontend)  $front
  remote write (distributors)           http://localhost:${PYRITE_DISTRIBUTOR_1_PORT:-9010}/api/v1/push, :${PYRITE_DISTRIBUTOR_2_PORT:-9011}
  ring                                  http://localhost:${PYRITE_INGESTER_1_PORT:-9001}/ring?format=html
  Pyrite's own metrics                  http://localhost:${PYRITE_INGESTER_1_PORT:-9001}/metrics (every service serves /metrics)
  Prometheus agent                      http://localhost:${PYRITE_PROMETHEUS_PORT:-9090}
  ruler (rule configuration API)        http://localhost:${PYRITE_RULER_PORT:-9050}/prometheus/config/v1/rules
  alertmanagers (API v2, amtool)        http://localhost:${PYRITE_ALERTMANAGER_1_PORT:-9061}/alertmanager, :${PYRITE_ALERTMANAGER_2_PORT:-9062}, :${PYRITE_ALERTMANAGER_3_PORT:-9063}
URLS
