#!/usr/bin/env bash
# Builds the compose cluster's images FROM scratch out of binaries on this machine (no
# registry needed):
#   pyrite/pyrite         the pyrite binary (PYRITE_BIN, default the release build) + healthcheck
#   pyrite/s3             s3s-fs, a real S3 server over a directory, with the bucket
#   pyrite/prometheus     Debian's prometheus (2.42), run as an agent
#   pyrite/node-exporter  Debian's prometheus-node-exporter
# all tagged PYRITE_IMAGE_TAG (default `local`), the tag docker-compose.yml uses.
#
#   PYRITE_BIN=target/debug/pyrite PYRITE_IMAGE_TAG=test deploy/build-images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

target_dir=${CARGO_TARGET_DIR:-$root/target}
pyrite_bin=${PYRITE_BIN:-$target_dir/release/pyrite}
tag=${PYRITE_IMAGE_TAG:-local}
bucket=${PYRITE_S3_BUCKET:-pyrite-blocks}

need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || { echo "build-images.sh: $1 not found: $2" >&2; exit 1; }
}
need "$pyrite_bin" "build it first (cargo build --release -p pyrite) or set PYRITE_BIN"
need docker "a Docker engine and its CLI are needed"
need rustc "rustc compiles the health-check probe"
s3s_fs=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
need "$s3s_fs" "cargo install s3s-fs --version 0.14.1 --features binary --locked"
need /usr/bin/prometheus "apt-get install prometheus"
need /usr/bin/prometheus-node-exporter "apt-get install prometheus-node-exporter"

stage=$(mktemp -d "${TMPDIR:-/tmp}/pyrite-images.XXXXXX")
trap 'rm -rf "$stage"' EXIT

rustc -O --edition 2021 "$here/healthcheck.rs" -o "$stage/healthcheck"

build() {
  local image=$1
  shift
  "$here/rootfs.sh" "$stage/$image/rootfs" "$@"
  # The legacy builder (enough for FROM scratch) warns that it is deprecated: not news here.
  if ! docker build -q -t "pyrite/$image:$tag" -f "$here/images/$image/Dockerfile" "$stage/$image" \
    >/dev/null 2>"$stage/$image.log"; then
    cat "$stage/$image.log" >&2
    echo "build-images.sh: building pyrite/$image failed" >&2
    exit 1
  fi
  grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^[[:space:]]*$' "$stage/$image.log" >&2 || true
  echo "built pyrite/$image:$tag"
}

build pyrite "$pyrite_bin=pyrite" "$stage/healthcheck" --dir /data --dir /etc/pyrite
build s3 "$s3s_fs=s3s-fs" "$stage/healthcheck" --dir "/data/$bucket"
build prometheus /usr/bin/prometheus "$stage/healthcheck" --dir /prometheus --dir /etc/prometheus
build node-exporter /usr/bin/prometheus-node-exporter "$stage/healthcheck"
# Images these tags pointed at before are left without a name: drop them (unless a
# container still runs one).
docker image prune -f --filter label=pyrite.image >/dev/null
