//! Generated protobuf code only: the Prometheus remote-write 1.0 (`prometheus.*`) and
//! 2.0 (`io.prometheus.write.v2.*`) messages, and Pyrite's internal gRPC services
//! (`pyrite.ingester.v1`: pushes and reads between components, Raft between replicas;
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

/// Pyrite's internal services: the ingester (push, select, labels) and Raft.
pub mod ingester {
    include!(concat!(env!("OUT_DIR"), "/pyrite.ingester.v1.rs"));
}

/// The query frontend's service, which queriers' workers connect to for work.
pub mod frontend {
    include!(concat!(env!("OUT_DIR"), "/pyrite.frontend.v1.rs"));
}
