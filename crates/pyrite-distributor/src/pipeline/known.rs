//! The write path for known series ([`KnownWrite`], a scrape's samples): the same
//! stages as [`Distributor::push`], in the same order, with the same refusals, but a
//! series' labels are checked only the first time it is written under its tenant's
//! current label limits (a known series remembers the limits it passed under), and the
//! store is handed the series by reference ([`pyrite_storage::Appendable::append_known`]).
//! Sample timestamps are checked on every write, as they change with every write.

use pyrite_storage::{KnownValue, KnownWrite};

use super::{log_failure, Checked, PushOutcome, Source};
use crate::validate::{check_labels, check_times, Invalid, SeriesLimits};
use crate::{Distributor, PushError, WireHistogram};

/// Samples that passed validation, and what was said about those that did not.
type CheckedKnown = Checked<KnownWrite>;

impl Distributor {
    /// Pushes one tenant's write to known series through every stage of the write path,
    /// as [`Distributor::push`] would push [`KnownWrite::to_series`]: each sample
    /// counts as a series of its own for the request limits and for validation.
    pub async fn push_known(&self, tenant: &str, write: KnownWrite, source: Source) -> Result<PushOutcome, PushError> {
        let result = self.run_known_stages(tenant, write).await;
        log_failure(tenant, source, &result);
        result
    }

    async fn run_known_stages(&self, tenant: &str, write: KnownWrite) -> Result<PushOutcome, PushError> {
        let tl = vec![("tenant".to_string(), tenant.to_string())];
        self.metrics.received_requests.get_or_create(&tl).inc();
        self.check_request_limits(tenant, write.len(), write.len())?;
        let checked = self.validate_known(tenant, write);
        let valid_samples = checked.valid.len();
        let any = !checked.valid.is_empty();
        self.store_checked(tenant, &tl, checked, valid_samples, any, |valid| {
            self.store.append_known(tenant, valid)
        })
        .await
    }

    /// Stage 4 for known series: each sample's time, then its series' labels (unless
    /// they passed under these label limits before), then a native histogram's shape,
    /// as [`crate::validate_series`] checks them.
    fn validate_known(&self, tenant: &str, write: KnownWrite) -> CheckedKnown {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let limits = SeriesLimits::of(&self.limits, tenant);
        let stamp = limits.label_stamp();
        let mut checked = CheckedKnown {
            valid: KnownWrite::with_capacity(write.len()),
            invalid_series: 0,
            first_invalid: None,
        };
        for mut sample in write.samples {
            match check_known(&mut sample, &limits, stamp, now_ms) {
                Ok(()) => checked.valid.samples.push(sample),
                Err(inv) => {
                    checked.invalid_series += 1;
                    self.discard(tenant, inv.reason, 1);
                    checked.first_invalid.get_or_insert(inv.message);
                }
            }
        }
        checked
    }
}

/// One sample of a known series, checked as [`crate::validate_series`] checks the
/// series of that one sample; a native histogram comes out as validation makes it.
fn check_known(
    sample: &mut pyrite_storage::KnownSample,
    limits: &SeriesLimits,
    stamp: u64,
    now_ms: i64,
) -> Result<(), Invalid> {
    let series = &sample.series;
    let labels = series.labels().as_slice();
    check_times(std::iter::once(sample.t), labels, limits, now_ms)?;
    if !series.checked_under(stamp) {
        check_labels(labels, limits)?;
        series.mark_checked(stamp);
    }
    if let KnownValue::Histogram(h) = &mut sample.value {
        let wire = WireHistogram::from_float(sample.t, std::mem::take(&mut **h));
        match wire.into_float() {
            Ok((_, valid)) => **h = valid,
            Err(why) => {
                return Err(Invalid {
                    reason: "invalid_native_histogram",
                    message: format!(
                        "invalid native histogram: {why} for series {}",
                        crate::validate::describe(labels)
                    ),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
