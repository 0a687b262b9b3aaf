//! A real `prometheus-node-exporter` on a loopback address, as a scrape target.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{free_port, wait_until, Peer};

/// Starts node_exporter on `ip` with only the given collectors (series that come and go
/// between two scrapes would make comparisons races), and waits until it answers.
/// Returns the process and its `host:port`.
pub fn node_exporter(ip: Ipv4Addr, dir: &Path, collectors: &[&str]) -> anyhow::Result<(Peer, String)> {
    let port = free_port(ip);
    let peer = Peer::spawn(
        &format!("node-exporter-{port}"),
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={ip}:{port}"))
            .arg("--collector.disable-defaults")
            .args(collectors.iter().map(|c| format!("--collector.{c}"))),
        dir,
    )?;
    let addr = format!("{ip}:{port}");
    wait_until("node_exporter to answer", Duration::from_secs(30), || {
        Ok(reqwest::blocking::get(format!("http://{addr}/metrics"))
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ()))
    })?;
    Ok((peer, addr))
}
