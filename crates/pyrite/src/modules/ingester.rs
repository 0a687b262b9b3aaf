//! The ingester module: this process's shard replicas (and its replica of the metadata
//! group, where the ring gives it one), served over gRPC (`Ingester`, `Raft`), following
//! the ring and cutting blocks in the background.

use std::time::Duration;

use anyhow::{bail, Context as _};
use pyrite_ingester::{HostSettings, IngesterService, RaftOptions, ShardHost};
use pyrite_proto::ingester::ingester_server::IngesterServer;
use pyrite_raft::log_store::FsyncPolicy;
use pyrite_raft::network::RaftService;

use super::context::{shards_dir, Context, RING_REFRESH};
use crate::config::Config;

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let cfg = &ctx.cfg;
    let node_id = cfg.cluster.node_id;
    if node_id == 0 {
        bail!("--cluster.node-id must be set (and unique) on an ingester");
    }
    let listed = ctx
        .client
        .ring()
        .read()
        .desc()
        .ingesters
        .get(&node_id)
        .map(|i| i.addr.clone());
    let advertise = match (cfg.cluster.advertise_address.as_str(), listed.as_ref()) {
        ("", Some(addr)) => addr.clone(),
        ("", None) => format!("{}:{}", cfg.server.grpc_listen_address, cfg.server.grpc_listen_port),
        (addr, _) => addr.to_string(),
    };
    if advertise.starts_with("0.0.0.0:") {
        bail!("ingester {node_id} is not in --cluster.ingesters: give it --cluster.advertise-address");
    }
    let settings = HostSettings {
        dir: shards_dir(cfg),
        head: pyrite_tsdb::HeadOptions {
            // As Prometheus's head: appendable back to half a block range.
            appendable_window_ms: cfg.blocks.range.0.as_millis() as i64 / 2,
            ..cfg.ingester.head.clone()
        },
        raft: raft_options(cfg),
        blocks: ctx.bucket.clone().map(|b| crate::blocks::block_settings(cfg, b)),
    };
    let host = ShardHost::new(node_id, ctx.client.clone(), settings);
    host.register_metrics(&mut ctx.registry);
    let heads_of = host.clone();
    ctx.registry
        .register_collector(Box::new(crate::metrics::HeadCollector(Box::new(move || {
            heads_of.heads().into_iter().map(|(_, h)| h).collect()
        }))));
    // Peers reach this node while it opens its replicas: the services are served
    // before the start below.
    ctx.serve_grpc(
        IngesterServer::new(IngesterService::new(host.clone()))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
    );
    ctx.serve_grpc(RaftService::new(host.groups()).server());
    ctx.host = Some(host.clone());
    let (standalone, tasks) = (ctx.standalone, ctx.tasks.clone());
    ctx.on_start(super::Module::Ingester, async move {
        host.open_meta().await.context("opening the metadata group")?;
        host.open_shards().await.context("opening shard replicas")?;
        if listed.is_none() {
            tracing::info!(node_id, %advertise, "joining the cluster");
            host.join(&advertise, Duration::from_secs(120))
                .await
                .map_err(|e| anyhow::anyhow!("joining the cluster: {}", e.message()))?;
        }
        if standalone {
            host.wait_to_lead_all(Duration::from_secs(60))
                .await
                .context("electing this process leader of its own shards")?;
        }
        tasks.spawn(host.clone().follow_ring(RING_REFRESH));
        tasks.spawn(host.clone().cut_blocks());
        Ok(())
    });
    Ok(())
}

fn raft_options(cfg: &Config) -> RaftOptions {
    let c = &cfg.cluster;
    RaftOptions {
        heartbeat_ms: c.raft_heartbeat.0.as_millis() as u64,
        election_timeout_min_ms: c.raft_election_timeout.0.as_millis() as u64,
        election_timeout_max_ms: 2 * c.raft_election_timeout.0.as_millis() as u64,
        fsync: match c.raft_fsync {
            true => FsyncPolicy::Always,
            false => FsyncPolicy::Never,
        },
        snapshot_entries: c.raft_snapshot_entries,
        patient_wait: c.scrape_batch_wait.0,
    }
}
