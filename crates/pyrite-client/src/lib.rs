//! Reaching ingester shards. A [`ShardClient`] knows the ring (which ingesters hold a
//! shard's replicas), keeps one lazily connected gRPC channel per ingester, remembers
//! each shard's last known leader, and runs a call against the leader: a replica that
//! is not the leader answers with the leader's identity and the call follows it; an
//! unreachable replica is skipped; the whole attempt is bounded by a deadline. Reads
//! that may be served by any replica use [`ShardClient::call_any`].
//!
//! The ring itself is kept by the metadata group on the first ingesters; a client
//! refreshes its copy from there ([`ShardClient::refresh_ring`]) and sends ring changes
//! to that group's leader ([`ShardClient::change_ring`]). [`errors`] says what a failed
//! call means to the write and read paths.

pub mod errors;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use pyrite_proto::ingester as pb;
use pyrite_proto::ingester::ingester_client::IngesterClient;
use pyrite_ring::change::RingChange;
use pyrite_ring::{Ring, RingDesc, RingGroup};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Metadata a non-leader replica answers with.
pub const LEADER_ID: &str = "pyrite-leader-id";
pub const LEADER_ADDR: &str = "pyrite-leader-addr";

/// One lazily connected gRPC channel per address, shared by every caller.
#[derive(Clone, Default)]
pub struct Channels(Arc<RwLock<HashMap<String, Channel>>>);

impl Channels {
    pub fn get(&self, addr: &str) -> Result<Channel, Status> {
        if let Some(c) = self.0.read().get(addr) {
            return Ok(c.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Status::invalid_argument(format!("bad ingester address {addr:?}: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .connect_lazy();
        self.0.write().insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// A "not the leader" answer, with whatever it says about the leader.
pub fn not_leader(leader: Option<(u64, &str)>) -> Status {
    let mut s = Status::failed_precondition("not the shard's leader");
    if let Some((id, addr)) = leader {
        if let (Ok(id), Ok(addr)) = (id.to_string().parse(), addr.parse()) {
            s.metadata_mut().insert(LEADER_ID, id);
            s.metadata_mut().insert(LEADER_ADDR, addr);
        }
    }
    s
}

/// The leader a "not the leader" answer names: its id and address.
fn leader_of(s: &Status) -> Option<(u64, String)> {
    let id = s.metadata().get(LEADER_ID)?.to_str().ok()?.parse().ok()?;
    let addr = s.metadata().get(LEADER_ADDR)?.to_str().ok()?.to_string();
    Some((id, addr))
}

/// Whether trying another replica (or again later) may succeed.
fn retryable(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::FailedPrecondition | Code::DeadlineExceeded | Code::Aborted | Code::NotFound
    ) || (s.code() == Code::Unknown && s.message().contains("transport"))
}

/// Calls ingester shards, following leaders.
#[derive(Clone)]
pub struct ShardClient {
    ring: Arc<RwLock<Ring>>,
    channels: Channels,
    /// Each group's believed leader, id and address (it may be newer than the ring).
    leaders: Arc<RwLock<HashMap<RingGroup, (u64, String)>>>,
    /// How long one call may spend finding a leader and retrying.
    pub deadline: Duration,
    /// How long one replica gets to answer before the next is tried (a hung or cut-off
    /// replica keeps its connection open and never answers).
    pub attempt_timeout: Duration,
}

impl ShardClient {
    pub fn new(ring: Arc<RwLock<Ring>>, channels: Channels) -> Self {
        Self {
            ring,
            channels,
            leaders: Arc::default(),
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
        }
    }

    pub fn ring(&self) -> Arc<RwLock<Ring>> {
        self.ring.clone()
    }

    pub fn channels(&self) -> Channels {
        self.channels.clone()
    }

    /// Replicas to try, the believed leader first (even one the ring does not list
    /// yet: this client's copy of the ring may lag a move).
    fn candidates(&self, group: RingGroup) -> Vec<(u64, String)> {
        let mut replicas = self.ring.read().desc().replica_addrs(group);
        if let Some(leader) = self.leaders.read().get(&group) {
            replicas.retain(|r| r.0 != leader.0);
            replicas.insert(0, leader.clone());
        }
        replicas
    }

    /// Runs `f` on the group's leader, following redirects and skipping unreachable
    /// replicas until it succeeds, fails for good, or the deadline passes.
    pub async fn call_leader<T, F, Fut>(&self, group: impl Into<RingGroup>, mut f: F) -> Result<T, Status>
    where
        F: FnMut(IngesterClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let group: RingGroup = group.into();
        let start = Instant::now();
        let mut backoff = Duration::from_millis(20);
        let mut last = Status::unavailable(format!("{group} has no replicas"));
        while start.elapsed() < self.deadline {
            let candidates = self.candidates(group);
            if candidates.is_empty() {
                return Err(last);
            }
            let mut redirected = false;
            for (id, addr) in candidates {
                let client = IngesterClient::new(self.channels.get(&addr)?)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                match self.attempt(f(client)).await {
                    Ok(v) => {
                        self.leaders.write().insert(group, (id, addr));
                        return Ok(v);
                    }
                    Err(s) if !retryable(&s) => return Err(s),
                    Err(s) => {
                        if let Some(leader) = leader_of(&s) {
                            if leader.0 != id {
                                self.leaders.write().insert(group, leader);
                                redirected = true;
                                last = s;
                                break;
                            }
                        }
                        last = s;
                    }
                }
            }
            if !redirected {
                // Nobody leads right now (an election is running): wait a little.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
        Err(Status::unavailable(format!(
            "{group}: no leader answered within {:?}: {}",
            self.deadline,
            last.message()
        )))
    }

    async fn attempt<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        match tokio::time::timeout(self.attempt_timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer within {:?}",
                self.attempt_timeout
            ))),
        }
    }

    /// Runs `f` on any reachable replica of the group, the believed leader first.
    pub async fn call_any<T, F, Fut>(&self, group: impl Into<RingGroup>, mut f: F) -> Result<T, Status>
    where
        F: FnMut(IngesterClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let group: RingGroup = group.into();
        let mut last = Status::unavailable(format!("{group} has no replicas"));
        for (_, addr) in self.candidates(group) {
            let client = IngesterClient::new(self.channels.get(&addr)?).max_decoding_message_size(usize::MAX);
            match self.attempt(f(client)).await {
                Ok(v) => return Ok(v),
                Err(s) if !retryable(&s) => return Err(s),
                Err(s) => last = s,
            }
        }
        Err(last)
    }

    /// Fetches the ring from the metadata group and adopts it if it is newer than this
    /// client's; returns the new description when it changed.
    pub async fn refresh_ring(&self) -> Result<Option<RingDesc>, Status> {
        let reply = self
            .call_any(RingGroup::Meta, |mut c| async move {
                c.get_ring(pb::GetRingRequest {}).await
            })
            .await?;
        self.adopt(&reply.into_inner().ring)
    }

    /// Refreshes the ring every `every` until the process ends (for processes that hold
    /// no replica of the metadata group and place or find series by the ring).
    pub async fn follow_ring(self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.refresh_ring().await {
                tracing::debug!(error = %e.message(), "refreshing the ring");
            }
        }
    }

    /// Commits a ring change through the metadata group's leader; returns the ring
    /// after it (adopted here too). A change the ring refuses is `InvalidArgument`.
    pub async fn change_ring(&self, change: &RingChange) -> Result<RingDesc, Status> {
        let change = serde_json::to_string(change).map_err(|e| Status::internal(e.to_string()))?;
        let reply = self
            .call_leader(RingGroup::Meta, |mut c| {
                let change = change.clone();
                async move { c.change_ring(pb::ChangeRingRequest { change }).await }
            })
            .await?;
        let ring = reply.into_inner().ring;
        self.adopt(&ring)?;
        parse_ring(&ring)
    }

    /// Delivers a pool member's heartbeat to the metadata group's leader; answers the
    /// pool after it.
    pub async fn heartbeat(&self, hb: &pyrite_members::Heartbeat) -> Result<pyrite_members::Answer, Status> {
        let req = pb::HeartbeatRequest {
            pool: hb.pool.clone(),
            id: hb.id.clone(),
            addr: hb.addr.clone(),
            timeout_ms: hb.timeout_ms,
            handoff_ms: hb.handoff_ms,
            leave: hb.leave,
        };
        let reply = self
            .call_leader(RingGroup::Meta, |mut c| {
                let req = req.clone();
                async move { c.heartbeat(req).await }
            })
            .await?;
        let reply = reply.into_inner();
        let pool = serde_json::from_str(&reply.pool).map_err(|e| Status::internal(format!("undecodable pool: {e}")))?;
        Ok(pyrite_members::Answer {
            pool,
            as_of_ms: reply.as_of_ms,
        })
    }

    /// Commits a record (or, with `forget`, its removal) through the metadata group's
    /// leader; `PermissionDenied` when the group refuses it.
    pub async fn put_record(&self, req: pb::PutRecordRequest) -> Result<(), Status> {
        self.call_leader(RingGroup::Meta, |mut c| {
            let req = req.clone();
            async move { c.put_record(req).await }
        })
        .await
        .map(|_| ())
    }

    /// A key's record as the metadata group's leader has it committed.
    pub async fn get_record(&self, pool: &str, key: &str) -> Result<Option<pyrite_members::Record>, Status> {
        let req = pb::GetRecordRequest {
            pool: pool.to_string(),
            key: key.to_string(),
        };
        let reply = self
            .call_leader(RingGroup::Meta, |mut c| {
                let req = req.clone();
                async move { c.get_record(req).await }
            })
            .await?
            .into_inner();
        if reply.record.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&reply.record)
            .map(Some)
            .map_err(|e| Status::internal(format!("undecodable record: {e}")))
    }

    /// Replaces this client's ring with `json` if that is newer.
    pub fn adopt(&self, json: &str) -> Result<Option<RingDesc>, Status> {
        self.adopt_desc(parse_ring(json)?)
    }

    /// Replaces this client's ring with `desc` if that is newer.
    pub fn adopt_desc(&self, desc: RingDesc) -> Result<Option<RingDesc>, Status> {
        if desc.version <= self.ring.read().desc().version {
            return Ok(None);
        }
        let ring = Ring::new(desc.clone()).map_err(|e| Status::internal(format!("invalid ring: {e}")))?;
        let mut current = self.ring.write();
        if desc.version <= current.desc().version {
            return Ok(None);
        }
        *current = ring;
        Ok(Some(desc))
    }
}

/// Every series of a streamed `Select` answer (an ingester's or a store gateway's).
pub async fn collect_series(mut stream: tonic::Streaming<pb::SelectResponse>) -> Result<Vec<pb::Series>, Status> {
    let mut out = Vec::new();
    while let Some(batch) = stream.message().await? {
        out.extend(batch.series);
    }
    Ok(out)
}

fn parse_ring(json: &str) -> Result<RingDesc, Status> {
    serde_json::from_str(json).map_err(|e| Status::internal(format!("undecodable ring: {e}")))
}

#[tonic::async_trait]
impl pyrite_members::Registry for ShardClient {
    async fn heartbeat(&self, hb: &pyrite_members::Heartbeat) -> Result<pyrite_members::Answer, String> {
        ShardClient::heartbeat(self, hb)
            .await
            .map_err(|s| s.message().to_string())
    }
}

#[tonic::async_trait]
impl pyrite_members::Records for ShardClient {
    async fn put(
        &self,
        pool: &str,
        key: &str,
        member: &str,
        instant_ms: i64,
        value: String,
    ) -> Result<(), pyrite_members::RecordError> {
        let req = pb::PutRecordRequest {
            pool: pool.to_string(),
            key: key.to_string(),
            member: member.to_string(),
            instant_ms,
            value,
            forget: false,
        };
        self.put_record(req).await.map_err(record_error)
    }

    async fn forget(&self, pool: &str, key: &str, member: &str) -> Result<(), pyrite_members::RecordError> {
        let req = pb::PutRecordRequest {
            pool: pool.to_string(),
            key: key.to_string(),
            member: member.to_string(),
            forget: true,
            ..Default::default()
        };
        self.put_record(req).await.map_err(record_error)
    }

    async fn get(&self, pool: &str, key: &str) -> Result<Option<pyrite_members::Record>, pyrite_members::RecordError> {
        self.get_record(pool, key).await.map_err(record_error)
    }
}

fn record_error(s: Status) -> pyrite_members::RecordError {
    match s.code() {
        tonic::Code::PermissionDenied => pyrite_members::RecordError::Refused(s.message().to_string()),
        _ => pyrite_members::RecordError::Unavailable(s.message().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_leader_answers_carry_the_leader() {
        let s = not_leader(Some((3, "127.0.0.3:9095")));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(leader_of(&s), Some((3, "127.0.0.3:9095".to_string())));
        assert!(retryable(&s));
        assert_eq!(leader_of(&not_leader(None)), None);
        assert!(!retryable(&Status::invalid_argument("bad sample")));
    }
}
