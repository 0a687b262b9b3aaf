//! The notifier's metrics, under Prometheus's names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type AlertmanagerLabels = Vec<(String, String)>;

#[derive(Clone, Default)]
pub struct NotifierMetrics {
    pub sent: Family<AlertmanagerLabels, Counter>,
    pub errors: Family<AlertmanagerLabels, Counter>,
    pub dropped: Counter,
    pub queue_length: Gauge,
    pub queue_capacity: Gauge,
    pub alertmanagers_discovered: Gauge,
}

impl NotifierMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "prometheus_notifications_sent",
            "Alerts posted to each Alertmanager.",
            m.sent.clone(),
        );
        registry.register(
            "prometheus_notifications_errors",
            "Alerts an Alertmanager failed to take, by Alertmanager.",
            m.errors.clone(),
        );
        registry.register(
            "prometheus_notifications_dropped",
            "Alerts dropped: pushed out of a full queue, or taken by no Alertmanager.",
            m.dropped.clone(),
        );
        registry.register(
            "prometheus_notifications_queue_length",
            "Alerts waiting to be sent.",
            m.queue_length.clone(),
        );
        registry.register(
            "prometheus_notifications_queue_capacity",
            "Alerts the queue holds at most.",
            m.queue_capacity.clone(),
        );
        registry.register(
            "prometheus_notifications_alertmanagers_discovered",
            "Alertmanagers alerts are sent to, as discovered.",
            m.alertmanagers_discovered.clone(),
        );
        m
    }
}
