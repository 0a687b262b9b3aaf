//! A Raft cluster of `pyrite` processes on loopback: ingesters hosting shard replicas,
//! distributors and queriers, each on its own 127.0.0.x address.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use crate::process::{free_port, Pyrite};

pub struct Cluster {
    pub ingesters: Vec<Pyrite>,
    pub distributors: Vec<Pyrite>,
    pub queriers: Vec<Pyrite>,
}

impl Cluster {
    /// Starts `ingesters` ingesters holding `shards` shards with `rf` replicas each, then
    /// `distributors` distributors and `queriers` queriers, all on `127.0.0.{base}+`.
    pub fn start(
        dir: &Path,
        base: u8,
        ingesters: usize,
        shards: u32,
        rf: usize,
        distributors: usize,
        queriers: usize,
    ) -> anyhow::Result<Cluster> {
        let ips: Vec<Ipv4Addr> = (0..ingesters + distributors + queriers)
            .map(|i| Ipv4Addr::new(127, 0, 0, base + i as u8))
            .collect();
        let grpc: Vec<u16> = ips[..ingesters].iter().map(|ip| free_port(*ip)).collect();
        let list: Vec<String> = (0..ingesters)
            .map(|i| format!("{}={}:{}", i + 1, ips[i], grpc[i]))
            .collect();
        let common = vec![
            format!("--cluster.ingesters={}", list.join(",")),
            format!("--cluster.shards={shards}"),
            format!("--cluster.replication-factor={rf}"),
            "--cluster.raft-heartbeat=100ms".to_string(),
            "--cluster.raft-election-timeout=500ms".to_string(),
        ];
        // Ingesters first, all at once: each waits for its peers to elect leaders.
        let mut pending = Vec::new();
        for i in 0..ingesters {
            let mut args = common.clone();
            args.push("--target=ingester".into());
            args.push(format!("--cluster.node-id={}", i + 1));
            args.push(format!("--server.grpc-listen-address={}", ips[i]));
            args.push(format!("--server.grpc-listen-port={}", grpc[i]));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            pending.push(Pyrite::spawn_unready(
                ips[i],
                &dir.join(format!("ingester-{}", i + 1)),
                &args,
            )?);
        }
        for p in &pending {
            p.wait_ready(Duration::from_secs(60))?;
        }
        let start = |role: &str, ip: Ipv4Addr, n: usize| -> anyhow::Result<Pyrite> {
            let mut args = common.clone();
            args.push(format!("--target={role}"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Pyrite::start(ip, &dir.join(format!("{role}-{n}")), &args)
        };
        let mut d = Vec::new();
        for j in 0..distributors {
            d.push(start("distributor", ips[ingesters + j], j + 1)?);
        }
        let mut q = Vec::new();
        for k in 0..queriers {
            q.push(start("querier", ips[ingesters + distributors + k], k + 1)?);
        }
        Ok(Cluster {
            ingesters: pending,
            distributors: d,
            queriers: q,
        })
    }
}
