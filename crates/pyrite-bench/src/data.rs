//! A realistic data set: node_exporter-like hosts (CPU counters per core and mode,
//! memory and load gauges, network counters) and an HTTP service's request counters and
//! latency histograms, with deterministic pseudo-random value shapes.

use prost::Message;
use pyrite_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

/// One generated series: labels and how its value moves.
pub struct GenSeries {
    labels: Vec<Label>,
    kind: Kind,
    seed: u64,
}

enum Kind {
    Counter { rate: f64 },
    Gauge { base: f64, amplitude: f64 },
}

fn labels(pairs: &[(&str, String)]) -> Vec<Label> {
    let mut l: Vec<Label> = pairs
        .iter()
        .map(|(n, v)| Label {
            name: n.to_string(),
            value: v.clone(),
        })
        .collect();
    l.sort_by(|a, b| a.name.cmp(&b.name));
    l
}

/// Series each generated host has.
pub const SERIES_PER_HOST: usize = 113;

/// `hosts` hosts of [`SERIES_PER_HOST`] series each.
pub fn series(hosts: usize) -> Vec<GenSeries> {
    let mut out = Vec::new();
    let mut seed = 1u64;
    let mut push = |l: Vec<Label>, kind: Kind| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push(GenSeries { labels: l, kind, seed });
    };
    for h in 0..hosts {
        let instance = format!("host-{h}:9100");
        for cpu in 0..8 {
            for mode in ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"] {
                let rate = if mode == "idle" { 0.7 } else { 0.04 };
                push(
                    labels(&[
                        ("__name__", "node_cpu_seconds_total".into()),
                        ("job", "node".into()),
                        ("instance", instance.clone()),
                        ("cpu", cpu.to_string()),
                        ("mode", mode.into()),
                    ]),
                    Kind::Counter { rate },
                );
            }
        }
        for (name, base) in [
            ("node_memory_MemAvailable_bytes", 8e9),
            ("node_memory_MemFree_bytes", 2e9),
            ("node_memory_Cached_bytes", 4e9),
            ("node_load1", 1.5),
            ("node_load5", 1.2),
            ("node_load15", 1.0),
            ("node_filesystem_avail_bytes", 1e11),
        ] {
            push(
                labels(&[
                    ("__name__", name.into()),
                    ("job", "node".into()),
                    ("instance", instance.clone()),
                ]),
                Kind::Gauge {
                    base,
                    amplitude: base * 0.1,
                },
            );
        }
        for dev in ["eth0", "eth1", "lo"] {
            for name in ["node_network_receive_bytes_total", "node_network_transmit_bytes_total"] {
                push(
                    labels(&[
                        ("__name__", name.into()),
                        ("job", "node".into()),
                        ("instance", instance.clone()),
                        ("device", dev.into()),
                    ]),
                    Kind::Counter { rate: 1e5 },
                );
            }
        }
        for handler in ["/api", "/login", "/search"] {
            for code in ["200", "500"] {
                let rate = if code == "200" { 50.0 } else { 0.5 };
                push(
                    labels(&[
                        ("__name__", "http_requests_total".into()),
                        ("job", "api".into()),
                        ("instance", instance.clone()),
                        ("handler", handler.into()),
                        ("code", code.into()),
                    ]),
                    Kind::Counter { rate },
                );
            }
            let bounds = [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
            ];
            for (i, le) in bounds.iter().enumerate() {
                push(
                    labels(&[
                        ("__name__", "http_request_duration_seconds_bucket".into()),
                        ("job", "api".into()),
                        ("instance", instance.clone()),
                        ("handler", handler.into()),
                        ("le", le.to_string()),
                    ]),
                    Kind::Counter {
                        rate: 50.0 * (i + 1) as f64 / bounds.len() as f64,
                    },
                );
            }
        }
    }
    out
}

impl GenSeries {
    /// The value at sample index `i` (every `interval_s` seconds).
    pub fn value(&self, i: u64, interval_s: f64) -> f64 {
        let jitter = ((self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1000) as f64 / 1000.0;
        match self.kind {
            Kind::Counter { rate } => (rate * interval_s * i as f64 * (0.9 + 0.2 * jitter)).floor(),
            Kind::Gauge { base, amplitude } => {
                let phase = (self.seed % 628) as f64 / 100.0;
                (base + amplitude * ((i as f64 / 40.0) + phase).sin() + amplitude * 0.1 * jitter).round()
            }
        }
    }
}

/// Remote-write 1.0 bodies covering `[start_ms, start_ms + n*interval_ms)`, in time
/// order, `per_request` samples at most per body.
pub fn requests(series: &[GenSeries], start_ms: i64, interval_ms: i64, n: u64, per_request: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let steps_per_request = (per_request / series.len().max(1)).max(1) as u64;
    let mut i = 0;
    while i < n {
        let end = (i + steps_per_request).min(n);
        let timeseries = series
            .iter()
            .map(|s| TimeSeries {
                labels: s.labels.clone(),
                samples: (i..end)
                    .map(|k| Sample {
                        timestamp: start_ms + k as i64 * interval_ms,
                        value: s.value(k, interval_ms as f64 / 1000.0),
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let req = WriteRequest {
            timeseries,
            ..Default::default()
        };
        out.push(
            snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .expect("snappy"),
        );
        i = end;
    }
    out
}

/// Which protocol a load generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request` with a symbol table.
    V2,
}

/// One sample for each of `series` at `t`, as a snappy-compressed request body; with
/// `churn_label`, every series carries it (its value changes as series churn).
pub fn encode_round(
    series: &[&GenSeries],
    churn: &[Option<String>],
    round: u64,
    t: i64,
    interval_s: f64,
    protocol: Protocol,
) -> Vec<u8> {
    let with_churn = |s: &GenSeries, c: &Option<String>| -> Vec<Label> {
        let mut l = s.labels.clone();
        if let Some(pod) = c {
            l.push(Label {
                name: "pod".into(),
                value: pod.clone(),
            });
            l.sort_by(|a, b| a.name.cmp(&b.name));
        }
        l
    };
    let raw = match protocol {
        Protocol::V1 => {
            let timeseries = series
                .iter()
                .zip(churn)
                .map(|(s, c)| TimeSeries {
                    labels: with_churn(s, c),
                    samples: vec![Sample {
                        timestamp: t,
                        value: s.value(round, interval_s),
                    }],
                    ..Default::default()
                })
                .collect();
            WriteRequest {
                timeseries,
                ..Default::default()
            }
            .encode_to_vec()
        }
        Protocol::V2 => {
            use pyrite_proto::write_v2;
            let mut symbols: Vec<String> = vec![String::new()];
            let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            let mut sym = |v: &str| -> u32 {
                if let Some(&i) = index.get(v) {
                    return i;
                }
                symbols.push(v.to_string());
                let i = (symbols.len() - 1) as u32;
                index.insert(v.to_string(), i);
                i
            };
            let timeseries = series
                .iter()
                .zip(churn)
                .map(|(s, c)| {
                    let mut refs = Vec::new();
                    for l in with_churn(s, c) {
                        refs.push(sym(&l.name));
                        refs.push(sym(&l.value));
                    }
                    write_v2::TimeSeries {
                        labels_refs: refs,
                        samples: vec![write_v2::Sample {
                            timestamp: t,
                            value: s.value(round, interval_s),
                        }],
                        ..Default::default()
                    }
                })
                .collect();
            write_v2::Request { symbols, timeseries }.encode_to_vec()
        }
    };
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy")
}
