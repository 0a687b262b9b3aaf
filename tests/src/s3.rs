//! A real S3 server for the block tests: `s3s-fs` (installed by the test command),
//! serving a directory on a loopback address, with one bucket and credentials.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::{free_port, wait_until, Peer};

pub const ACCESS_KEY: &str = "pyrite-test";
pub const SECRET_KEY: &str = "pyrite-test-secret";

pub struct S3Server {
    pub peer: Peer,
    pub endpoint: String,
    /// Where the server keeps the bucket's objects (one file per object).
    pub bucket_dir: PathBuf,
    pub bucket: String,
}

impl S3Server {
    /// Starts `s3s-fs` on `ip` over `dir`, with bucket `bucket`, and waits until it
    /// accepts connections.
    pub fn start(ip: Ipv4Addr, dir: &Path, bucket: &str) -> anyhow::Result<S3Server> {
        if Command::new("s3s-fs").arg("--help").output().is_err() {
            bail!("s3s-fs is not installed; the test command installs it (scripts/test.sh)");
        }
        let root = dir.join("s3");
        let bucket_dir = root.join(bucket);
        std::fs::create_dir_all(&bucket_dir).context("creating the bucket directory")?;
        let port = free_port(ip);
        let mut cmd = Command::new("s3s-fs");
        cmd.arg(format!("--host={ip}"))
            .arg(format!("--port={port}"))
            .arg(format!("--access-key={ACCESS_KEY}"))
            .arg(format!("--secret-key={SECRET_KEY}"))
            .arg(&root);
        let peer = Peer::spawn(&format!("s3s-fs-{ip}-{port}"), &mut cmd, dir)?;
        wait_until("s3s-fs to accept connections", Duration::from_secs(30), || {
            Ok(TcpStream::connect((ip, port)).ok().map(|_| ()))
        })?;
        Ok(S3Server {
            peer,
            endpoint: format!("http://{ip}:{port}"),
            bucket_dir,
            bucket: bucket.to_string(),
        })
    }

    /// The `pyrite` flags that put blocks in this server's bucket.
    pub fn pyrite_args(&self) -> Vec<String> {
        vec![
            "--blocks.backend=s3".into(),
            format!("--blocks.s3.endpoint={}", self.endpoint),
            format!("--blocks.s3.bucket={}", self.bucket),
            format!("--blocks.s3.access-key-id={ACCESS_KEY}"),
            format!("--blocks.s3.secret-access-key={SECRET_KEY}"),
        ]
    }
}
