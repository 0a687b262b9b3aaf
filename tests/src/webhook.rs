//! A webhook receiver on loopback that records every notification it is sent: the
//! path, the JSON body and when it arrived. Alertmanager's webhook integration posts
//! plain HTTP/1.1 JSON; this reads exactly that and answers 200.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::wait_until;

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub body: Value,
    /// The `Idempotency-Key` header, if the sender gave one.
    pub idempotency_key: Option<String>,
}

impl Received {
    pub fn group_key(&self) -> &str {
        self.body["groupKey"].as_str().unwrap_or("")
    }

    pub fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or("")
    }

    /// Each alert as `label=value,…:status`, in the notification's order.
    pub fn alerts(&self) -> Vec<String> {
        self.body["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let labels: Vec<String> = a["labels"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect();
                format!("{}:{}", labels.join(","), a["status"].as_str().unwrap_or(""))
            })
            .collect()
    }
}

pub struct Webhook {
    pub base: String,
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    pub fn start(ip: Ipv4Addr) -> anyhow::Result<Webhook> {
        Self::start_holding(ip, Duration::ZERO)
    }

    /// A receiver that records each notification as it arrives but answers only
    /// `hold` later: a sender killed meanwhile has sent without knowing it.
    pub fn start_holding(ip: Ipv4Addr, hold: Duration) -> anyhow::Result<Webhook> {
        let listener = TcpListener::bind((ip, 0))?;
        let port = listener.local_addr()?.port();
        let base = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || serve(conn, &sink, hold));
            }
        });
        Ok(Webhook { base, port, received })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The receiver's URL as a sender reaches it at `host` (a receiver started on
    /// 0.0.0.0, reached by containers through their network's gateway).
    pub fn url_at(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `n` notifications have arrived in all, and returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Received>> {
        wait_until(&format!("{n} notifications"), timeout, || {
            let r = self.received();
            Ok((r.len() >= n).then_some(r))
        })
    }
}

fn serve(conn: TcpStream, sink: &Mutex<Vec<Received>>, hold: Duration) {
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        let mut idempotency_key = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("idempotency-key") {
                    idempotency_key = Some(v.trim().to_string());
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Ok(mut s) = sink.lock() {
            s.push(Received {
                at: Instant::now(),
                path,
                body,
                idempotency_key,
            });
        }
        std::thread::sleep(hold);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}
