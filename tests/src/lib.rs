//! Harness for cluster-level tests: starts real `pyrite` processes (and real
//! Prometheus peers) on loopback addresses, waits on their readiness endpoints, and
//! tears everything down — processes and directories — even when a test fails.
//!
//! Nothing here mocks a peer; the Prometheus binaries come from Debian's packages and
//! the S3 server is `s3s-fs`, all installed by the test command.

pub mod blocks;
pub mod cluster;
pub mod docker;
pub mod exporter;
pub mod http;
pub mod load;
pub mod process;
pub mod readme;
pub mod remote_write;
pub mod s3;
pub mod webhook;

pub use process::{alertmanager, free_port, prometheus, pyrite_bin, require, wait_until, Peer, Pyrite};
