//! One target's scrapes. [`Scraper`] turns a body into the samples to write — parsing,
//! applying `honor_labels` and `metric_relabel_configs` once per series (then cached
//! under the series' text as the target wrote it, as a
//! [`KnownSeries`] every scrape writes by reference), timestamps, limits, staleness
//! markers for series that vanished, and the synthetic series (`up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`, `scrape_series_added`). The loop that fetches
//! at the target's instants and hands each scrape's series to the [`Sink`] is
//! [`schedule::run`](crate::schedule::run).
//!
//! The invariant: every series written by one scrape carries the scrape's scheduled
//! instant (unless the target gave a timestamp and `honor_timestamps` is on), and a
//! series written by the previous scrape and absent from this one gets exactly one
//! staleness marker — never two, never one for a series with its own timestamps unless
//! `track_timestamps_staleness` asks for it.

mod cache;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime};

use parking_lot::Mutex;
use pyrite_exposition::{Entry, MetricType, OpenMetricsParser, Parser};
use pyrite_model::{Labels, LabelsBuilder, STALE_NAN};
use pyrite_storage::{KnownSeries, KnownValue, KnownWrite};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use self::cache::{Found, Pass, SeriesCache};
use crate::config::{Limits, ScrapeConfig};
use crate::target::Target;

/// What went wrong with one scrape, as the targets API shows it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    #[error("{0}")]
    Fetch(String),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("{0}")]
    Parse(String),
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("{0}")]
    LabelLimit(String),
    #[error("{0}")]
    Invalid(String),
}

/// `TYPE`, `HELP` and `UNIT` of one metric as the target last exposed them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metadata {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        // Prometheus reports the text format's `untyped` as unknown.
        MetricType::Untyped => "unknown",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::StateSet => "stateset",
        MetricType::Info => "info",
        MetricType::Unknown => "unknown",
    }
}

/// A staleness marker at `t` for a series the last good scrape wrote and this one did
/// not — unless it carried its own timestamp and `track_timestamps_staleness` is off.
fn stale(slot: &cache::Slot, t: i64, track: bool, out: &mut KnownWrite) {
    if let (Some(s), true) = (&slot.series, !slot.own_timestamp || track) {
        out.push_float(s, t, STALE_NAN);
    }
}

/// The result of one scrape: what to write (a sample of each series, in the body's
/// order, then the staleness markers), and the counts the synthetic series report.
#[derive(Debug, Default)]
pub struct Scrape {
    pub series: KnownWrite,
    pub scraped: u64,
    pub post_relabel: u64,
    pub added: u64,
}

/// A seed no target can guess.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// One `TYPE`, `HELP` or `UNIT` line of a body.
enum MetadataLine<'a> {
    Type(&'static str),
    Help(std::borrow::Cow<'a, str>),
    Unit(&'a str),
}

/// A body's metadata lines, borrowed from it, with a digest of them all: the metadata
/// map is built only when the digest differs from the last one built.
#[derive(Default)]
struct MetadataLines<'a> {
    lines: Vec<(&'a str, MetadataLine<'a>)>,
    digest: u64,
}

impl<'a> MetadataLines<'a> {
    fn push(&mut self, metric: &'a str, line: MetadataLine<'a>) {
        let (tag, text): (u8, &str) = match &line {
            MetadataLine::Type(k) => (0, k),
            MetadataLine::Help(h) => (1, h),
            MetadataLine::Unit(u) => (2, u),
        };
        let mut h = xxhash_rust::xxh3::Xxh3::with_seed(self.digest);
        h.update(metric.as_bytes());
        h.update(&[0xff, tag]);
        h.update(text.as_bytes());
        self.digest = h.digest();
        self.lines.push((metric, line));
    }

    fn build(self) -> BTreeMap<String, Metadata> {
        let mut metadata: BTreeMap<String, Metadata> = BTreeMap::new();
        for (metric, line) in self.lines {
            let m = metadata.entry(metric.to_string()).or_default();
            match line {
                MetadataLine::Type(k) => m.kind = k,
                MetadataLine::Help(h) => m.help = h.into_owned(),
                MetadataLine::Unit(u) => m.unit = u.to_string(),
            }
        }
        for m in metadata.values_mut() {
            if m.kind.is_empty() {
                m.kind = "unknown";
            }
        }
        metadata
    }
}

/// Turns one target's bodies into series, remembering what the last scrape wrote.
pub struct Scraper {
    target_labels: Labels,
    honor_labels: bool,
    honor_timestamps: bool,
    track_timestamps_staleness: bool,
    scrape_classic_histograms: bool,
    limits: Limits,
    metric_relabel: Vec<pyrite_relabel::RelabelConfig>,
    /// `global.external_labels`, added last to every series without them.
    external_labels: Vec<(String, String)>,
    /// Series by the 128-bit xxh3 hash of their text under `seed`. The hash stands for
    /// the text: a target cannot choose texts that collide without the seed, and two
    /// texts collide by chance with odds of about n²/2¹²⁹ (10⁻²⁷ for a million series).
    cache: SeriesCache,
    /// The seed of the cache's text hashes.
    seed: u64,
    iteration: u64,
    /// `up` and the other synthetic series, in the order [`Scraper::report`] writes them.
    synthetic: [Arc<KnownSeries>; 5],
    /// Shared with the targets API as it is: a scrape replaces it, never edits it.
    pub metadata: Arc<BTreeMap<String, Metadata>>,
    /// A digest of the metadata lines `metadata` was built from: a body whose lines give
    /// the same digest leaves it as it is.
    metadata_digest: u64,
}

/// Sets each of `labels` the builder has no value for.
fn add_missing<'a>(b: &mut LabelsBuilder, labels: impl IntoIterator<Item = (&'a String, &'a String)>) {
    for (name, value) in labels {
        if b.get(name).is_empty() {
            b.set(name, value);
        }
    }
}

/// The synthetic series' names, in the order [`Scraper::report`] writes them.
const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl Scraper {
    pub fn new(cfg: &ScrapeConfig, target: &Target) -> Self {
        Scraper {
            target_labels: target.labels.clone(),
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            scrape_classic_histograms: cfg.scrape_classic_histograms,
            limits: cfg.limits,
            metric_relabel: cfg.metric_relabel_configs.clone(),
            external_labels: cfg.external_labels.clone().into_iter().collect(),
            cache: SeriesCache::default(),
            seed: random_seed(),
            iteration: 0,
            synthetic: SYNTHETIC.map(|name| {
                let mut b = target.labels.to_builder();
                b.set("__name__", name);
                add_missing(&mut b, &cfg.external_labels);
                KnownSeries::new(b.build())
            }),
            metadata: Arc::default(),
            metadata_digest: 0,
        }
    }

    /// The series of a successful fetch at `t` (ms), or why the scrape failed. A failed
    /// scrape writes nothing of the body; call [`Scraper::failed`] for its markers.
    pub fn ingest(&mut self, body: &[u8], content_type: &str, t: i64) -> Result<Scrape, ScrapeError> {
        let mut pass = self.cache.begin(self.iteration + 1);
        let mut out = Scrape {
            series: KnownWrite::with_capacity(self.cache.len() + 1),
            ..Scrape::default()
        };
        if content_type.starts_with("application/vnd.google.protobuf") {
            let families = pyrite_exposition::protobuf::parse(body).map_err(|e| ScrapeError::Parse(e.to_string()))?;
            let mut metadata = MetadataLines::default();
            let read = self.read_protobuf(&families, t, &mut pass, &mut out, &mut metadata);
            self.settle(read, t, pass, metadata, out)
        } else {
            let open_metrics = content_type.starts_with("application/openmetrics-text");
            let mut metadata = MetadataLines::default();
            let read = self.read_text(body, open_metrics, t, &mut pass, &mut out, &mut metadata);
            self.settle(read, t, pass, metadata, out)
        }
    }

    /// A body read to its end is committed; one that failed leaves the cache as it was.
    fn settle(
        &mut self,
        read: Result<(), ScrapeError>,
        t: i64,
        pass: Pass,
        metadata: MetadataLines<'_>,
        mut out: Scrape,
    ) -> Result<Scrape, ScrapeError> {
        match read {
            Ok(()) => {
                self.commit(t, pass, metadata, &mut out);
                Ok(out)
            }
            Err(e) => {
                self.cache.rollback(pass);
                Err(e)
            }
        }
    }

    /// A body in the text format or OpenMetrics.
    fn read_text<'a>(
        &mut self,
        body: &'a [u8],
        open_metrics: bool,
        t: i64,
        pass: &mut Pass,
        out: &mut Scrape,
        metadata: &mut MetadataLines<'a>,
    ) -> Result<(), ScrapeError> {
        let entries: Box<dyn Iterator<Item = Result<Entry<'_>, pyrite_exposition::ParseError>>> = if open_metrics {
            Box::new(OpenMetricsParser::new(body).map_err(|e| ScrapeError::Parse(e.to_string()))?)
        } else {
            Box::new(Parser::new(body).map_err(|e| ScrapeError::Parse(e.to_string()))?)
        };
        // A series' text as the body writes it; its hash is its cache key.
        let mut text = String::new();
        for entry in entries {
            let entry = entry.map_err(|e| ScrapeError::Parse(e.to_string()))?;
            let s = match entry {
                Entry::Sample(s) => s,
                Entry::Type { metric, kind } => {
                    metadata.push(metric, MetadataLine::Type(type_name(kind)));
                    continue;
                }
                Entry::Help { metric, text } => {
                    metadata.push(metric, MetadataLine::Help(text));
                    continue;
                }
                Entry::Unit { metric, unit } => {
                    metadata.push(metric, MetadataLine::Unit(unit));
                    continue;
                }
            };
            out.scraped += 1;
            text.clear();
            text.push_str(s.name);
            text.push('\u{ff}');
            text.push_str(s.raw_labels());
            let own_timestamp = self.honor_timestamps && s.timestamp.is_some();
            let ts = if own_timestamp { s.timestamp.unwrap_or(t) } else { t };
            let (name, exposed) = (s.name, s.labels());
            let key = xxh3_128_with_seed(text.as_bytes(), self.seed);
            let Some(series) = self.admit(key, own_timestamp, pass, out, || (name, exposed))? else {
                continue;
            };
            out.series.samples.push(pyrite_storage::KnownSample {
                series,
                t: ts,
                value: KnownValue::Float(s.value),
            });
        }
        Ok(())
    }

    /// The series to write a sample to, or `None` to skip it (dropped by relabeling,
    /// or a repeat in the same body); counts it and enforces the sample limit. Series
    /// seen before are marked seen in place (a failed scrape's rollback undoes that);
    /// new ones wait in the pass until the scrape is known to be good.
    fn admit<'a, I>(
        &mut self,
        key: u128,
        own_timestamp: bool,
        pass: &mut Pass,
        out: &mut Scrape,
        exposed: impl FnOnce() -> (&'a str, I),
    ) -> Result<Option<Arc<KnownSeries>>, ScrapeError>
    where
        I: Iterator<Item = (&'a str, std::borrow::Cow<'a, str>)>,
    {
        let series = match self.cache.find(pass, key) {
            Found::Repeat => return Ok(None),
            Found::Cached(slot) => {
                slot.own_timestamp = own_timestamp;
                match &slot.series {
                    Some(s) => s.clone(),
                    None => return Ok(None),
                }
            }
            Found::New => {
                let (name, labels) = exposed();
                let series = self.series_labels(name, labels)?.map(KnownSeries::new);
                if series.is_some() {
                    out.added += 1;
                }
                self.cache.add(pass, key, series.clone(), own_timestamp);
                match series {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
        };
        out.post_relabel += 1;
        if self.limits.sample_limit > 0 && out.post_relabel > self.limits.sample_limit {
            return Err(ScrapeError::SampleLimit);
        }
        Ok(Some(series))
    }

    /// A body in the protobuf format: native histograms as histogram samples, classic
    /// ones (and, with `scrape_classic_histograms`, a native one's classic form) as
    /// Prometheus lays them out.
    fn read_protobuf<'a>(
        &mut self,
        families: &'a [pyrite_exposition::protobuf::Family],
        t: i64,
        pass: &mut Pass,
        out: &mut Scrape,
        metadata: &mut MetadataLines<'a>,
    ) -> Result<(), ScrapeError> {
        let mut text = String::new();
        for f in families {
            metadata.push(&f.name, MetadataLine::Type(type_name(f.metric_type)));
            metadata.push(&f.name, MetadataLine::Help(f.help.as_str().into()));
            metadata.push(&f.name, MetadataLine::Unit(&f.unit));
            for s in f.series(self.scrape_classic_histograms) {
                out.scraped += 1;
                text.clear();
                text.push_str(&s.name);
                for (n, v) in s.labels() {
                    text.push('\u{ff}');
                    text.push_str(n);
                    text.push('=');
                    text.push_str(v);
                }
                let own_timestamp = self.honor_timestamps && s.timestamp_ms.is_some();
                let ts = if own_timestamp { s.timestamp_ms.unwrap_or(t) } else { t };
                let exposed = || {
                    let labels = s.labels().map(|(n, v)| (n, std::borrow::Cow::Borrowed(v)));
                    (s.name.as_ref(), labels)
                };
                let key = xxh3_128_with_seed(text.as_bytes(), self.seed);
                let Some(series) = self.admit(key, own_timestamp, pass, out, exposed)? else {
                    continue;
                };
                match s.value {
                    pyrite_exposition::protobuf::SeriesValue::Float(v) => out.series.push_float(&series, ts, v),
                    pyrite_exposition::protobuf::SeriesValue::Histogram(h) => {
                        out.series.push_histogram(&series, ts, h.clone())
                    }
                }
            }
        }
        Ok(())
    }

    /// A good body: its series are remembered, vanished ones marked stale.
    fn commit(&mut self, t: i64, pass: Pass, metadata: MetadataLines<'_>, out: &mut Scrape) {
        self.iteration += 1;
        let track = self.track_timestamps_staleness;
        self.cache.commit(pass, |slot| stale(slot, t, track, &mut out.series));
        if metadata.digest != self.metadata_digest {
            self.metadata_digest = metadata.digest;
            self.metadata = Arc::new(metadata.build());
        }
    }

    /// A failed scrape at `t`: every series the last good scrape wrote goes stale.
    pub fn failed(&mut self, t: i64) -> KnownWrite {
        self.iteration += 1;
        let mut out = KnownWrite::new();
        let track = self.track_timestamps_staleness;
        self.cache.clear(self.iteration, |slot| stale(slot, t, track, &mut out));
        out
    }

    /// The target is no longer scraped here and not handed over: everything goes
    /// stale, the synthetic series too.
    pub fn end(&mut self, t: i64) -> KnownWrite {
        let scraped = self.iteration > 0;
        let mut out = self.failed(t);
        if scraped {
            for series in &self.synthetic {
                out.push_float(series, t, STALE_NAN);
            }
        }
        out
    }

    /// A sample's labels as written, made the series' labels: target labels added as
    /// `honor_labels` says, then metric relabeling, then the label limits.
    fn series_labels<'a>(
        &self,
        name: &str,
        exposed: impl Iterator<Item = (&'a str, std::borrow::Cow<'a, str>)>,
    ) -> Result<Option<Labels>, ScrapeError> {
        let mut b = LabelsBuilder::new();
        b.set("__name__", name);
        for (n, v) in exposed {
            b.set(n, &v);
        }
        if self.honor_labels {
            for l in self.target_labels.iter() {
                if b.get(&l.name).is_empty() {
                    b.set(&l.name, &l.value);
                }
            }
        } else {
            let mut conflicts: Vec<(String, String)> = Vec::new();
            for l in self.target_labels.iter() {
                let existing = b.get(&l.name);
                if !existing.is_empty() {
                    conflicts.push((l.name.to_string(), existing.to_string()));
                }
                b.set(&l.name, &l.value);
            }
            conflicts.sort_by_key(|(n, _)| n.len());
            for (n, v) in conflicts {
                let mut exported = n;
                loop {
                    exported.insert_str(0, "exported_");
                    if b.get(&exported).is_empty() {
                        b.set(&exported, &v);
                        break;
                    }
                }
            }
        }
        let labels = b.build();
        let labels = if self.metric_relabel.is_empty() {
            Some(labels)
        } else {
            pyrite_relabel::process(&labels, &self.metric_relabel)
        };
        let Some(labels) = labels else { return Ok(None) };
        self.check_label_limits(&labels)?;
        if self.external_labels.iter().all(|(n, _)| !labels.get(n).is_empty()) {
            return Ok(Some(labels));
        }
        let mut b = labels.to_builder();
        add_missing(&mut b, self.external_labels.iter().map(|(n, v)| (n, v)));
        Ok(Some(b.build()))
    }

    fn check_label_limits(&self, l: &Labels) -> Result<(), ScrapeError> {
        let lim = &self.limits;
        let metric: String = l.metric_name().chars().take(50).collect();
        if lim.label_limit > 0 && l.len() as u64 > lim.label_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
                l.len(),
                lim.label_limit
            )));
        }
        for label in l.iter() {
            if lim.label_name_length_limit > 0 && label.name.len() as u64 > lim.label_name_length_limit {
                return Err(ScrapeError::LabelLimit(format!(
                    "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                    label.name,
                    label.name.len(),
                    lim.label_name_length_limit
                )));
            }
            if lim.label_value_length_limit > 0 && label.value.len() as u64 > lim.label_value_length_limit {
                return Err(ScrapeError::LabelLimit(format!(
                    "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {}, limit: {})",
                    label.name,
                    label.value,
                    label.value.len(),
                    lim.label_value_length_limit
                )));
            }
        }
        if l.metric_name().is_empty() {
            return Err(ScrapeError::Invalid("__name__ label is missing".into()));
        }
        Ok(())
    }

    /// The synthetic series of a scrape at `t` (the same series every scrape, built once).
    pub fn report(&self, t: i64, up: bool, duration: StdDuration, s: &Scrape) -> KnownWrite {
        let values = [
            if up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            s.scraped as f64,
            s.post_relabel as f64,
            s.added as f64,
        ];
        let mut out = KnownWrite::with_capacity(values.len());
        for (series, v) in self.synthetic.iter().zip(values) {
            out.push_float(series, t, v);
        }
        out
    }
}

/// Where a scrape's samples go: a write to the scraper's known series, which keep
/// their labels (and what the write path learnt of them) from one scrape to the next.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    async fn write(&self, tenant: &str, series: KnownWrite) -> Result<(), String>;

    /// Keeps a target's metric metadata for the tenant (for `/api/v1/metadata`).
    async fn metadata(&self, tenant: &str, metadata: Vec<pyrite_storage::MetricMetadata>) -> Result<(), String>;
}

/// A target's metadata as the store keeps it.
pub(crate) fn described(metadata: &BTreeMap<String, Metadata>) -> Vec<pyrite_storage::MetricMetadata> {
    metadata
        .iter()
        .map(|(name, m)| pyrite_storage::MetricMetadata {
            metric: name.clone(),
            kind: pyrite_storage::MetricType::from_name(m.kind).unwrap_or_default(),
            help: m.help.clone(),
            unit: m.unit.clone(),
        })
        .collect()
}

/// A target's health, as the targets API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub health: &'static str,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: StdDuration,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            health: "unknown",
            last_error: String::new(),
            last_scrape: None,
            last_duration: StdDuration::ZERO,
        }
    }
}

/// What the loop shares with the API.
#[derive(Default)]
pub struct Status {
    pub health: Health,
    pub metadata: Arc<BTreeMap<String, Metadata>>,
}

pub type SharedStatus = Arc<Mutex<Status>>;

#[cfg(test)]
mod tests;
