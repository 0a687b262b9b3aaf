//! `healthcheck`: the probe Pyrite's `FROM scratch` images run for Docker health checks
//! (they have no shell, curl or wget). It sends one `GET` to a URL on a plain-HTTP
//! address and exits 0 when the answer is a 2xx (or, with `--any-status`, when any HTTP
//! answer comes back: the S3 server answers anonymous requests 403), 1 otherwise.
//!
//! Standard library only, so the image build compiles it with `rustc` alone.
//!
//! Usage: `healthcheck http://127.0.0.1:9009/ready [--any-status]`, or
//! `healthcheck tcp://127.0.0.1:9000` to only check that the port accepts connections.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(3);

fn probe(url: &str, any_status: bool) -> Result<(), String> {
    if let Some(authority) = url.strip_prefix("tcp://") {
        return connect(authority).map(drop);
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// and tcp:// URLs are probed"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut conn = connect(authority)?;
    conn.set_read_timeout(Some(DEADLINE)).map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(DEADLINE)).map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).map_err(|e| format!("sending: {e}"))?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match conn.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
    if any_status || (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("{url} answered {status}"))
    }
}

fn connect(authority: &str) -> Result<TcpStream, String> {
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("resolving {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    TcpStream::connect_timeout(&addr, DEADLINE).map_err(|e| format!("connecting to {addr}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let any_status = args.iter().any(|a| a == "--any-status");
    let Some(url) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: healthcheck http://host:port/path [--any-status] | tcp://host:port");
        return ExitCode::from(2);
    };
    match probe(url, any_status) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
