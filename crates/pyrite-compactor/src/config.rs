//! The compactor's configuration (`compactor:` in YAML, `--compactor.*` flags), with
//! its defaults. Retention is a per-tenant limit: the default and the overrides given
//! here go to `pyrite-limits`, from which the compactor reads them.

use pyrite_config::{parse_duration, Duration};
use pyrite_limits::{Overrides, PerTenant, TenantLimits};
use serde::{Deserialize, Serialize};

/// The compactor: merging blocks into larger ranges, retention, deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Ranges blocks are merged into, after the cut range (`blocks.range`), comma-separated.
    pub ranges: String,
    /// Blocks wholly older than this are deleted; 0s keeps everything.
    pub retention: Duration,
    /// Per-tenant retention overriding `retention`: `tenant=duration` pairs,
    /// comma-separated (`team-a=30d,team-b=0s`).
    pub tenant_retention: PerTenant<Duration>,
    /// How long a block marked for deletion stays readable (running queries and readers
    /// that have not synced yet may still use it).
    pub deletion_delay: Duration,
    /// How often a compaction pass runs.
    pub interval: Duration,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            ranges: "12h,24h".into(),
            retention: TenantLimits::default().compactor_retention,
            tenant_retention: PerTenant::default(),
            deletion_delay: Duration::from_secs(2 * 3600),
            interval: Duration::from_secs(300),
        }
    }
}

impl CompactorConfig {
    /// Checks the ranges against the cut range `cut`.
    pub fn validate(&self, cut: std::time::Duration) -> Result<(), String> {
        self.ranges(cut).map(|_| ())
    }

    /// Every range, the cut range first.
    pub fn ranges(&self, cut: std::time::Duration) -> Result<Vec<std::time::Duration>, String> {
        let mut out = vec![cut];
        for r in self.ranges.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let ms = parse_duration(r).map_err(|e| format!("--compactor.ranges: {r:?}: {e}"))?;
            let d = std::time::Duration::from_millis(ms.max(0) as u64);
            if d <= *out.last().expect("starts with the cut range") {
                return Err(
                    "--compactor.ranges must grow, each longer than the one before and than --blocks.range".into(),
                );
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Sets the retention every tenant starts from.
    pub fn tenant_defaults(&self, l: &mut TenantLimits) {
        l.compactor_retention = self.retention;
    }

    /// Adds the tenants' own retention.
    pub fn tenant_overrides(&self, o: Overrides) -> Overrides {
        o.set(&self.tenant_retention, |l, v| l.compactor_retention = v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_grow_from_the_cut_range() {
        let hour = std::time::Duration::from_secs(3600);
        let c = CompactorConfig::default();
        assert_eq!(c.ranges(2 * hour).unwrap(), [2 * hour, 12 * hour, 24 * hour]);
        assert!(c.validate(12 * hour).is_err());
    }

    #[test]
    fn the_flag_form_of_tenant_retention_is_typed_once() {
        let c: CompactorConfig = serde_yaml::from_str("tenant_retention: team-a=30d,team-b=0s").unwrap();
        assert_eq!(
            c.tenant_retention.get("team-a"),
            Some(&Duration::from_secs(30 * 86_400))
        );
        let e = serde_yaml::from_str::<CompactorConfig>("tenant_retention: team-a=forever").unwrap_err();
        assert!(e.to_string().contains("team-a=forever"), "{e}");
    }
}
