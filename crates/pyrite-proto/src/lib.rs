//! Generated protobuf code only: the Prometheus remote-write 1.0 (`prometheus.*`) and
//! 2.0 (`io.prometheus.write.v2.*`) messages, and Pyrite's internal gRPC services
//! (`pyrite.ingester.v1`: pushes, reads and ring changes between components, and the
//! store gateways' reads; `pyrite.raft.v1`: Raft between the replicas of a group;
//! `pyrite.frontend.v1`: queriers pulling work from the query frontend),
//! compiled from `proto/` at build time.

#![allow(clippy::all, missing_docs)]

/// Remote-write 1.0: `prometheus.WriteRequest` and its types.
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

/// Remote-write 2.0: `io.prometheus.write.v2.Request` and its types.
pub mod write_v2 {
    include!(concat!(env!("OUT_DIR"), "/io.prometheus.write.v2.rs"));
}

/// The ingester's and the store gateway's services (push, select, labels, the ring).
pub mod ingester {
    include!(concat!(env!("OUT_DIR"), "/pyrite.ingester.v1.rs"));
}

/// Raft between the replicas of a group.
pub mod raft {
    include!(concat!(env!("OUT_DIR"), "/pyrite.raft.v1.rs"));
}

/// The query frontend's service, which queriers' workers connect to for work.
pub mod frontend {
    include!(concat!(env!("OUT_DIR"), "/pyrite.frontend.v1.rs"));
}
