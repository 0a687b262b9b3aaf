//! A recording store for the tests of the pipeline and of its doors.

use std::sync::Mutex;

use async_trait::async_trait;
use pyrite_model::TimeSeries;
use pyrite_storage::{AppendError, AppendOutcome, Appendable, MetricMetadata};

/// Records writes; refuses samples at negative timestamps, fails when told to.
#[derive(Default)]
pub struct Store {
    pub writes: Mutex<Vec<(String, Vec<TimeSeries>)>>,
    pub metadata: Mutex<Vec<(String, Vec<MetricMetadata>)>>,
    pub fail: Option<AppendError>,
}

#[async_trait]
impl Appendable for Store {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        let mut out = AppendOutcome::default();
        for s in &series {
            for smp in &s.samples {
                if smp.t < 0 {
                    out.reject(|| "out of order sample".into());
                } else {
                    out.samples_written += 1;
                }
            }
            for (t, _) in &s.histograms {
                if *t < 0 {
                    out.reject(|| "out of order sample".into());
                } else {
                    out.samples_written += 1;
                    out.histograms_written += 1;
                }
            }
        }
        self.writes.lock().unwrap().push((tenant.to_string(), series));
        Ok(out)
    }

    async fn append_metadata(&self, tenant: &str, metadata: Vec<MetricMetadata>) -> Result<(), AppendError> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        self.metadata.lock().unwrap().push((tenant.to_string(), metadata));
        Ok(())
    }
}
