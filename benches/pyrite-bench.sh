#!/usr/bin/env bash
# Builds release Pyrite and pyrite-bench, then runs pyrite-bench: with no arguments the
# default comparison run (`all`: ingestion at 10k/100k/1M series, a 3-ingester RF 3 cluster
# at 100k, query latency over head data, block size and query latency over a block, all
# vs Prometheus); otherwise the given subcommand and flags.
#
#   benches/pyrite-bench.sh                 # everything, tables on stdout
#   benches/pyrite-bench.sh ingest --series 200000 --protocol v2 --churn 0.01
#   benches/pyrite-bench.sh query --hours 6 --windows 1,3,6
#   benches/pyrite-bench.sh snapshots      # push latency while shards snapshot
#   benches/pyrite-bench.sh scrape --targets 100 --series 1000   # scraping, CPU and memory
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pyrite-target}"
command -v prometheus >/dev/null || {
  echo "needs Debian's prometheus package (./scripts/test.sh installs it)" >&2
  exit 1
}
cargo build --release -p pyrite -p pyrite-bench
exec "$CARGO_TARGET_DIR/release/pyrite-bench" "${@:-all}"
