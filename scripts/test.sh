#!/usr/bin/env bash
# Runs Pyrite's whole test suite, installing what the tests need first:
# Debian's prometheus, prometheus-node-exporter and prometheus-alertmanager packages, and
# s3s-fs (a real S3 server, from crates.io) for the block tests, and aiosmtpd (an SMTP
# server, from PyPI) for the email integration's tests.
# With a Docker engine and docker-compose, the compose cluster test (docker_cluster)
# builds FROM scratch images from the debug build and breaks a cluster of containers.
# The cargo target dir lives outside the clone so repeated runs reuse the build.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pyrite-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_pkgs=()
command -v prometheus >/dev/null || need_pkgs+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need_pkgs+=(prometheus-node-exporter)
command -v amtool >/dev/null || need_pkgs+=(prometheus-alertmanager)
command -v dnsmasq >/dev/null || need_pkgs+=(dnsmasq-base)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
# 0.14.1: the newest s3s-fs that builds with this machine's Rust.
command -v s3s-fs >/dev/null || cargo install s3s-fs --version 0.14.1 --features binary --locked
# aiosmtpd: the SMTP server the email integration's tests send to.
python3 -c "import aiosmtpd" 2>/dev/null || pip install --quiet aiosmtpd

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets -- -D warnings

echo "== build"
cargo build --workspace --all-targets

echo "== docker"
if ! command -v docker-compose >/dev/null; then
  echo "docker-compose is not installed: docker_cluster will report itself skipped"
elif ! docker info >/dev/null 2>&1; then
  echo "no Docker engine reachable: docker_cluster will report itself skipped"
else
  echo "Docker engine $(docker info --format '{{.ServerVersion}}'): docker_cluster runs the compose cluster"
fi

echo "== tests"
cargo nextest run --workspace --no-fail-fast "$@"
