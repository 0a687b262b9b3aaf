//! Raft between replicas over gRPC: a [`GrpcNetwork`] per shard that openraft asks for
//! peer clients, and the [`RaftService`] every ingester serves, which hands each
//! incoming message to the local replica of the shard it names. Requests and responses
//! travel as MessagePack (`Result` included, so a remote Raft error comes back as one).

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
use pyrite_proto::ingester::raft_client::RaftClient;
use pyrite_proto::ingester::raft_server;
use pyrite_proto::ingester::RaftMessage;
use serde::de::DeserializeOwned;
use serde::Serialize;

use pyrite_client::Channels;

use crate::{decode, encode, NodeId, TypeConfig};

/// Hands openraft a client per peer for one shard.
#[derive(Clone)]
pub struct GrpcNetwork {
    shard: u32,
    channels: Channels,
}

impl GrpcNetwork {
    pub fn new(shard: u32, channels: Channels) -> Self {
        Self { shard, channels }
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            shard: self.shard,
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
        }
    }
}

/// One peer replica of a shard.
pub struct Peer {
    shard: u32,
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
        let msg = RaftMessage {
            shard: self.shard,
            payload: payload.into(),
        };
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

/// The replicas this process holds, by shard.
pub type Groups = Arc<RwLock<HashMap<u32, Raft<TypeConfig>>>>;

/// The `Raft` gRPC service: routes each message to the local replica of its shard.
#[derive(Clone)]
pub struct RaftService {
    groups: Groups,
}

impl RaftService {
    pub fn new(groups: Groups) -> Self {
        Self { groups }
    }

    fn group(&self, shard: u32) -> Result<Raft<TypeConfig>, tonic::Status> {
        self.groups
            .read()
            .get(&shard)
            .cloned()
            .ok_or_else(|| tonic::Status::not_found(format!("no replica of shard {shard} here")))
    }
}

fn request<T: DeserializeOwned>(m: &RaftMessage) -> Result<T, tonic::Status> {
    decode(&m.payload).map_err(|e| tonic::Status::invalid_argument(format!("undecodable Raft message: {e}")))
}

fn reply<T: Serialize>(shard: u32, v: &T) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
    let payload = encode(v).map_err(|e| tonic::Status::internal(format!("unencodable Raft reply: {e}")))?;
    Ok(tonic::Response::new(RaftMessage {
        shard,
        payload: payload.into(),
    }))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        req: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let m = req.into_inner();
        let raft = self.group(m.shard)?;
        let result = raft.append_entries(request(&m)?).await;
        reply(m.shard, &result)
    }

    async fn vote(&self, req: tonic::Request<RaftMessage>) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let m = req.into_inner();
        let raft = self.group(m.shard)?;
        let result = raft.vote(request(&m)?).await;
        reply(m.shard, &result)
    }

    async fn install_snapshot(
        &self,
        req: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        let m = req.into_inner();
        let raft = self.group(m.shard)?;
        let result = raft.install_snapshot(request(&m)?).await;
        reply(m.shard, &result)
    }
}
