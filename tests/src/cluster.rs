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
    dir: std::path::PathBuf,
    /// Flags every process shares (the ingester list is the founding one).
    common: Vec<String>,
    next_ip: Ipv4Addr,
}

/// How many of each process a test cluster has.
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    pub ingesters: usize,
    pub shards: u32,
    /// Replicas per shard.
    pub rf: usize,
    pub distributors: usize,
    pub queriers: usize,
}

impl Cluster {
    /// Starts the topology's ingesters, then its distributors and queriers, all on
    /// `127.0.0.{base}+`, every process with the `extra` flags too.
    pub fn start(dir: &Path, base: u8, topology: Topology, extra: &[&str]) -> anyhow::Result<Cluster> {
        let Topology {
            ingesters,
            shards,
            rf,
            distributors,
            queriers,
        } = topology;
        let ips: Vec<Ipv4Addr> = (0..ingesters + distributors + queriers)
            .map(|i| Ipv4Addr::new(127, 0, 0, base + i as u8))
            .collect();
        let grpc: Vec<u16> = ips[..ingesters].iter().map(|ip| free_port(*ip)).collect();
        let list: Vec<String> = (0..ingesters)
            .map(|i| format!("{}={}:{}", i + 1, ips[i], grpc[i]))
            .collect();
        let mut common = vec![
            format!("--cluster.ingesters={}", list.join(",")),
            format!("--cluster.shards={shards}"),
            format!("--cluster.replication-factor={rf}"),
            "--cluster.raft-heartbeat=100ms".to_string(),
            "--cluster.raft-election-timeout=500ms".to_string(),
            // One bucket every process of the cluster sees.
            format!("--blocks.dir={}", dir.join("bucket").display()),
        ];
        common.extend(extra.iter().map(|s| s.to_string()));
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
        let last = ips.last().copied().unwrap_or(Ipv4Addr::new(127, 0, 0, base));
        Ok(Cluster {
            ingesters: pending,
            distributors: d,
            queriers: q,
            dir: dir.to_path_buf(),
            common,
            next_ip: Ipv4Addr::from(u32::from(last) + 1),
        })
    }

    /// Starts ingester `id`, not among the founding ones: it joins the running cluster
    /// (it holds no replicas until the ring gives it some).
    pub fn add_ingester(&mut self, id: u64) -> anyhow::Result<&Pyrite> {
        let ip = self.next_ip;
        self.next_ip = Ipv4Addr::from(u32::from(ip) + 1);
        let grpc = free_port(ip);
        let mut args = self.common.clone();
        args.extend([
            "--target=ingester".to_string(),
            format!("--cluster.node-id={id}"),
            format!("--server.grpc-listen-address={ip}"),
            format!("--server.grpc-listen-port={grpc}"),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let p = Pyrite::start(ip, &self.dir.join(format!("ingester-{id}")), &args)?;
        self.ingesters.push(p);
        Ok(self.ingesters.last().expect("just pushed"))
    }

    /// Starts one more distributor, on the next free address, with the flags every
    /// process shares and `extra`; waits until it is ready.
    pub fn add_distributor(&mut self, extra: &[&str]) -> anyhow::Result<&Pyrite> {
        let n = self.distributors.len() + 1;
        let p = self.start_other("distributor", n, extra)?;
        self.distributors.push(p);
        Ok(self.distributors.last().expect("just pushed"))
    }

    /// Starts a process of `--target={role}`, the `n`th of its kind, on the next free
    /// address, with the flags every process shares and `extra`; waits until it is
    /// ready. The caller keeps it.
    pub fn start_other(&mut self, role: &str, n: usize, extra: &[&str]) -> anyhow::Result<Pyrite> {
        let ip = self.next_ip;
        self.next_ip = Ipv4Addr::from(u32::from(ip) + 1);
        let mut args = self.common.clone();
        args.push(format!("--target={role}"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Pyrite::start(ip, &self.dir.join(format!("{role}-{n}")), &args)
    }

    /// Kills every process at once, starts them all again, and waits until each is
    /// ready.
    pub fn restart_all(&mut self) -> anyhow::Result<()> {
        for p in self.all_mut() {
            p.peer.kill9()?;
        }
        for p in self.all_mut() {
            p.kill9_and_respawn()?;
        }
        for p in self.all_mut() {
            p.wait_ready(Duration::from_secs(120))?;
        }
        Ok(())
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Pyrite> {
        self.ingesters
            .iter_mut()
            .chain(self.distributors.iter_mut())
            .chain(self.queriers.iter_mut())
    }
}
