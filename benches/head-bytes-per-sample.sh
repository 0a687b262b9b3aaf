#!/usr/bin/env bash
# Measures the head's chunk bytes per sample on a realistic scrape: a real Prometheus
# scrapes a real node_exporter and remote-writes into a release build of Pyrite; after
# the given time the script reads Pyrite's own /metrics.
#
#   benches/head-bytes-per-sample.sh [minutes=6] [scrape_interval=1s]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-6}"
interval="${2:-1s}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pyrite-target}"
cargo build --release -p pyrite >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ip=127.0.0.31
"$CARGO_TARGET_DIR/release/pyrite" --server.http-listen-address=$ip --server.http-listen-port=19009 \
  --data.dir="$work/data" --log.level=warn &
prometheus-node-exporter --web.listen-address=$ip:19100 >/dev/null 2>&1 &
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: $interval}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["$ip:19100"]}]
remote_write:
  - url: http://$ip:19009/api/v1/push
YAML
until curl -sf "http://$ip:19009/ready" >/dev/null; do sleep 0.2; done
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address=$ip:19090 >/dev/null 2>&1 &
echo "scraping node_exporter every $interval for $minutes min..."
sleep $((minutes * 60))
curl -s "http://$ip:19009/metrics" | awk '
  /^pyrite_ingester_head_chunk_bytes / {b=$2}
  /^pyrite_ingester_head_samples / {s=$2}
  /^pyrite_ingester_memory_series / {n=$2}
  END {printf "series=%d samples=%d chunk_bytes=%d bytes_per_sample=%.3f\n", n, s, b, b/s}'
