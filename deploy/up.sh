#!/usr/bin/env bash
# The one command that brings up the compose cluster from a fresh clone: builds the
# release `pyrite` binary, builds the images FROM scratch (deploy/build-images.sh),
# starts docker-compose.yml and waits until every service is healthy.
#
#   deploy/up.sh                 # build and start
#   docker-compose down          # stop (add -v to delete the volumes: Raft logs, bucket)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v s3s-fs >/dev/null || [ -x "$HOME/.cargo/bin/s3s-fs" ] ||
  cargo install s3s-fs --version 0.14.1 --features binary --locked

echo "== cargo build --release -p pyrite"
cargo build --release -p pyrite
echo "== images"
PYRITE_BIN="$CARGO_TARGET_DIR/release/pyrite" deploy/build-images.sh
echo "== docker-compose up"
# `up -d` returns once every dependency a service waits on is healthy.
docker-compose up -d
for s in $(docker-compose ps -q); do
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
  Grafana data source (query frontend)  http://localhost:${PYRITE_FRONTEND_PORT:-9009}  (profile 'frontend'; until then a querier: http://localhost:${PYRITE_QUERIER_1_PORT:-9020})
  remote write (distributors)           http://localhost:${PYRITE_DISTRIBUTOR_1_PORT:-9010}/api/v1/push, :${PYRITE_DISTRIBUTOR_2_PORT:-9011}
  ring                                  http://localhost:${PYRITE_INGESTER_1_PORT:-9001}/ring?format=html
  Pyrite's own metrics                  http://localhost:${PYRITE_INGESTER_1_PORT:-9001}/metrics (every service serves /metrics)
  Prometheus agent                      http://localhost:${PYRITE_PROMETHEUS_PORT:-9090}
URLS
