//! The one write path: [`Distributor::push`] takes a tenant's decoded series from any
//! door — remote write today; OTLP, scraping, the Pushgateway API and the ruler as they
//! land — and runs them through the same stages, in this order:
//!
//! 1. **limits** — request-wide limits (series and samples per request); a request over
//!    them is refused whole.
//! 2. **HA dedup** *(later)* — drop writes from the non-elected replica of an HA pair.
//! 3. **relabel** *(later)* — the tenant's relabel rules and label drops.
//! 4. **validation** — each series on its own (labels, timestamps, native histograms);
//!    an invalid series is dropped and counted, the others go on.
//! 5. **metrics** — what was received, by tenant.
//! 6. **shard split and append** — the valid series go to the [`Appendable`], which splits
//!    them by the ring (`LocalShards` in one process, [`crate::ShardRouter`] in a cluster).
//!
//! Decoding is the door's job, not the pipeline's: each protocol turns its body into
//! [`RawSeries`] under its own size limits, calls `push`, and maps the [`PushOutcome`] to
//! its own answer. The invariant the stages keep: nothing reaches the store that
//! validation refused, and a refusal never hides what was written.

use pyrite_model::TimeSeries;
use pyrite_storage::{AppendError, AppendOutcome};

use crate::decode::RawSeries;
use crate::validate::{check_timestamps, validate_series, SeriesLimits};
use crate::{Distributor, PushError};

/// Which door a write came through (for logs; metrics stay by tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    RemoteWrite,
    Otlp,
    Scrape,
    Pushgateway,
    Ruler,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::RemoteWrite => "remote_write",
            Source::Otlp => "otlp",
            Source::Scrape => "scrape",
            Source::Pushgateway => "pushgateway",
            Source::Ruler => "ruler",
        }
    }
}

/// What the store took of a push, as the remote-write 2.0 response headers count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Float samples.
    pub samples: u64,
    /// Native histograms.
    pub histograms: u64,
}

/// A push that reached the store, or was refused series by series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    pub written: Written,
    /// Why some series or samples were refused while the rest was written (always a
    /// [`PushError::BadRequest`]); `None` when everything was taken.
    pub refused: Option<PushError>,
}

/// Series that passed validation, and what was said about those that did not.
pub(super) struct Checked<W = Vec<TimeSeries>> {
    valid: W,
    invalid_series: usize,
    first_invalid: Option<String>,
}

impl Distributor {
    /// Pushes one tenant's decoded write through every stage of the write path. `Err`
    /// means nothing was written: the request broke a limit or the store failed.
    pub async fn push(&self, tenant: &str, series: Vec<RawSeries>, source: Source) -> Result<PushOutcome, PushError> {
        let result = self.run_stages(tenant, series).await;
        log_failure(tenant, source, &result);
        result
    }

    async fn run_stages(&self, tenant: &str, series: Vec<RawSeries>) -> Result<PushOutcome, PushError> {
        let tl = vec![("tenant".to_string(), tenant.to_string())];
        self.metrics.received_requests.get_or_create(&tl).inc();
        let n_samples = series.iter().map(|s| s.samples.len() + s.histograms.len()).sum();
        self.check_request_limits(tenant, series.len(), n_samples)?;
        // HA dedup goes here (later).
        // Relabeling goes here (later).
        let checked = self.validate(tenant, series);
        let valid_samples: usize = checked.valid.iter().map(|s| s.num_samples()).sum();
        let any = !checked.valid.is_empty();
        self.store_checked(tenant, &tl, checked, valid_samples, any, |valid| {
            self.store.append(tenant, valid)
        })
        .await
    }

    /// Stages 5 and 6 for a write of any shape: counts the samples that passed, appends
    /// them (when there are any) and folds the store's refusal in with validation's.
    pub(super) async fn store_checked<W, Fut>(
        &self,
        tenant: &str,
        tl: &Vec<(String, String)>,
        checked: Checked<W>,
        valid_samples: usize,
        any: bool,
        append: impl FnOnce(W) -> Fut,
    ) -> Result<PushOutcome, PushError>
    where
        Fut: std::future::Future<Output = Result<AppendOutcome, AppendError>>,
    {
        self.metrics
            .received_samples
            .get_or_create(tl)
            .inc_by(valid_samples as u64);
        let mut outcome = PushOutcome::default();
        let mut store_refusal = None;
        if any {
            let appended = append(checked.valid).await;
            let (written, refusal) = self.appended(tenant, appended, valid_samples)?;
            outcome.written = written;
            store_refusal = refusal;
        }
        outcome.refused = refusal(store_refusal, checked.invalid_series, checked.first_invalid);
        Ok(outcome)
    }

    /// Stage 1: limits on the request as a whole.
    fn check_request_limits(&self, tenant: &str, n_series: usize, n_samples: usize) -> Result<(), PushError> {
        let max_series = self.limits.max_series_per_request(tenant);
        if max_series > 0 && n_series > max_series {
            return Err(PushError::bad(format!(
                "request has {n_series} series, more than the limit of {max_series} (max_series_per_request)"
            )));
        }
        let max_samples = self.limits.max_samples_per_request(tenant);
        if max_samples > 0 && n_samples > max_samples {
            return Err(PushError::bad(format!(
                "request has {n_samples} samples, more than the limit of {max_samples} (max_samples_per_request)"
            )));
        }
        Ok(())
    }

    /// Stage 4: each series on its own; the refused are counted by reason.
    fn validate(&self, tenant: &str, series: Vec<RawSeries>) -> Checked {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let limits = SeriesLimits::of(&self.limits, tenant);
        let mut checked = Checked {
            valid: Vec::with_capacity(series.len()),
            invalid_series: 0,
            first_invalid: None,
        };
        for raw in series {
            let samples = raw.samples.len() as u64 + raw.histograms.len() as u64;
            let result = check_timestamps(&raw, &limits, now_ms).and_then(|()| validate_series(raw, &limits));
            match result {
                Ok(ts) => checked.valid.push(ts),
                Err(inv) => {
                    checked.invalid_series += 1;
                    self.discard(tenant, inv.reason, samples);
                    checked.first_invalid.get_or_insert(inv.message);
                }
            }
        }
        checked
    }

    /// Stage 6: the store splits the write by shard and appends every part (the caller
    /// hands over what the store answered). Samples the store refused come back as a
    /// message, beside what it wrote.
    fn appended(
        &self,
        tenant: &str,
        outcome: Result<AppendOutcome, AppendError>,
        valid_samples: usize,
    ) -> Result<(Written, Option<String>), PushError> {
        let outcome = outcome.map_err(|e| match e {
            AppendError::Limit(m) => PushError::TooManyRequests(m),
            AppendError::Unavailable(m) => PushError::Unavailable(m),
            AppendError::Internal(m) => PushError::Internal(m),
        })?;
        let written = Written {
            samples: outcome.samples_written.saturating_sub(outcome.histograms_written),
            histograms: outcome.histograms_written,
        };
        if outcome.samples_rejected == 0 {
            return Ok((written, None));
        }
        self.discard(tenant, "refused_by_store", outcome.samples_rejected);
        let msg = format!(
            "{} of {valid_samples} samples were refused: {}",
            outcome.samples_rejected,
            outcome.rejections.join("; ")
        );
        Ok((written, Some(msg)))
    }

    fn discard(&self, tenant: &str, reason: &str, samples: u64) {
        let labels = vec![
            ("tenant".to_string(), tenant.to_string()),
            ("reason".to_string(), reason.to_string()),
        ];
        self.metrics.discarded_samples.get_or_create(&labels).inc_by(samples);
    }
}

/// Logs a push that failed (a warning when the store failed, a debug line when the
/// sender's data was refused).
fn log_failure(tenant: &str, source: Source, result: &Result<PushOutcome, PushError>) {
    let failure = match result {
        Err(e) => Some(e),
        Ok(o) => o.refused.as_ref(),
    };
    match failure {
        Some(e) if e.status().is_server_error() => {
            tracing::warn!(tenant, source = source.as_str(), error = %e, "push failed")
        }
        Some(e) => tracing::debug!(tenant, source = source.as_str(), error = %e, "push refused"),
        None => {}
    }
}

/// The one refusal a push answers with: the store's, then the invalid series.
fn refusal(store: Option<String>, invalid_series: usize, first_invalid: Option<String>) -> Option<PushError> {
    let msg = match (store, first_invalid) {
        (None, None) => return None,
        (Some(mut msg), Some(inv)) => {
            msg.push_str(&format!("; also {invalid_series} invalid series, first: {inv}"));
            msg
        }
        (Some(msg), None) => msg,
        (None, Some(inv)) if invalid_series == 1 => inv,
        (None, Some(inv)) => format!("{invalid_series} invalid series refused; first: {inv}"),
    };
    Some(PushError::BadRequest(msg))
}

mod known;
mod metadata;
#[cfg(test)]
mod tests;
