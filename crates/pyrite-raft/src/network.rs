//! Raft between replicas over gRPC (`pyrite.raft.v1`): a [`GrpcNetwork`] per group that
//! openraft asks for peer clients, and the [`RaftService`] every process holding
//! replicas serves, which hands each incoming message to the local replica of the group
//! it names ([`Groups`]). Requests and responses travel as MessagePack (`Result`
//! included, so a remote Raft error comes back as one).

use std::collections::HashMap;
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Raft};
use parking_lot::RwLock;
use pyrite_proto::raft::raft_client::RaftClient;
use pyrite_proto::raft::{raft_server, GroupKind as WireKind, RaftMessage};
use serde::de::DeserializeOwned;
use serde::Serialize;

use pyrite_client::Channels;

use crate::{decode, encode, GroupId, GroupKind, NodeId, TypeConfig};

/// Hands openraft a client per peer for one group.
#[derive(Clone)]
pub struct GrpcNetwork {
    group: GroupId,
    channels: Channels,
}

impl GrpcNetwork {
    pub fn new(group: GroupId, channels: Channels) -> Self {
        Self { group, channels }
    }
}

/// A message for `group` carrying `payload`.
fn message(group: GroupId, payload: bytes::Bytes) -> RaftMessage {
    let kind = match group.kind {
        GroupKind::Shard => WireKind::Shard,
        GroupKind::Meta => WireKind::Meta,
    };
    RaftMessage {
        kind: kind as i32,
        group: group.id,
        payload,
    }
}

/// The group a message names.
fn group_of(m: &RaftMessage) -> Result<GroupId, tonic::Status> {
    let kind = match WireKind::try_from(m.kind) {
        Ok(WireKind::Shard) => GroupKind::Shard,
        Ok(WireKind::Meta) => GroupKind::Meta,
        _ => {
            return Err(tonic::Status::invalid_argument(format!(
                "unknown group kind {}",
                m.kind
            )))
        }
    };
    Ok(GroupId { kind, id: m.group })
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            group: self.group,
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
        }
    }
}

/// One peer replica of a group.
pub struct Peer {
    group: GroupId,
    target: NodeId,
    addr: String,
    channels: Channels,
}

#[derive(Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl Peer {
    async fn call<Req, Resp, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let channel = self
            .channels
            .get(&self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut client = RaftClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let msg = message(self.group, payload.into());
        let ttl = option.hard_ttl();
        let call = async {
            match rpc {
                Rpc::AppendEntries => client.append_entries(msg).await,
                Rpc::Vote => client.vote(msg).await,
                Rpc::InstallSnapshot => client.install_snapshot(msg).await,
            }
        };
        let reply = match tokio::time::timeout(ttl, call).await {
            Err(_) => {
                return Err(RPCError::Timeout(Timeout {
                    action: match rpc {
                        Rpc::AppendEntries => openraft::network::RPCTypes::AppendEntries,
                        Rpc::Vote => openraft::network::RPCTypes::Vote,
                        Rpc::InstallSnapshot => openraft::network::RPCTypes::InstallSnapshot,
                    },
                    id: 0,
                    target: self.target,
                    timeout: ttl,
                }))
            }
            Ok(Err(status)) => {
                // A peer that is down or restarting: back off, retry later.
                return Err(RPCError::Unreachable(Unreachable::new(&status)));
            }
            Ok(Ok(r)) => r.into_inner(),
        };
        let result: Result<Resp, RaftError<NodeId, E>> =
            decode(&reply.payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.call(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}

/// The replicas this process holds, by group: what the [`RaftService`] routes to.
#[derive(Clone, Default)]
pub struct Groups(Arc<RwLock<HashMap<GroupId, Raft<TypeConfig>>>>);

impl Groups {
    pub fn insert(&self, id: GroupId, raft: Raft<TypeConfig>) {
        self.0.write().insert(id, raft);
    }

    pub fn remove(&self, id: GroupId) {
        self.0.write().remove(&id);
    }

    fn get(&self, id: GroupId) -> Result<Raft<TypeConfig>, tonic::Status> {
        self.0
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| tonic::Status::not_found(format!("no replica of {id} here")))
    }
}

/// The `Raft` gRPC service: routes each message to the local replica of its group.
#[derive(Clone)]
pub struct RaftService {
    groups: Groups,
}

impl RaftService {
    pub fn new(groups: Groups) -> Self {
        Self { groups }
    }

    /// The service, ready to add to a gRPC server (no message size limit: snapshots and
    /// batched entries can be large).
    pub fn server(self) -> raft_server::RaftServer<RaftService> {
        raft_server::RaftServer::new(self)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }
}

fn reply<T: Serialize>(group: GroupId, v: &T) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
    let payload = encode(v).map_err(|e| tonic::Status::internal(format!("unencodable Raft reply: {e}")))?;
    Ok(tonic::Response::new(message(group, payload.into())))
}

impl RaftService {
    /// The local replica a message is for, and its request.
    fn route<T: DeserializeOwned>(&self, m: &RaftMessage) -> Result<(GroupId, Raft<TypeConfig>, T), tonic::Status> {
        let group = group_of(m)?;
        let raft = self.groups.get(group)?;
        let req = decode(&m.payload)
            .map_err(|e| tonic::Status::invalid_argument(format!("undecodable Raft message: {e}")))?;
        Ok((group, raft, req))
    }
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        req: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let (group, raft, req) = self.route(&req.into_inner())?;
        reply(group, &raft.append_entries(req).await)
    }

    async fn vote(&self, req: tonic::Request<RaftMessage>) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let (group, raft, req) = self.route(&req.into_inner())?;
        reply(group, &raft.vote(req).await)
    }

    async fn install_snapshot(
        &self,
        req: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let (group, raft, req) = self.route(&req.into_inner())?;
        reply(group, &raft.install_snapshot(req).await)
    }
}
