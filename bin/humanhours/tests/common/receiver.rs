//! A webhook receiver on 127.0.0.1 for the tests: a plain HTTP/1.1 listener (keep-alive, one
//! request at a time per connection) that records every request and answers with the next
//! status of its script (then its default status).

#![allow(dead_code, unreachable_pub, reason = "shared by several test binaries")]
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helper")]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    /// How many are in `received` (read without copying them).
    count: AtomicUsize,
    script: Mutex<VecDeque<u16>>,
    default_status: Mutex<u16>,
    /// The answer's body, when set (else `receiver answered <status>`).
    body: Mutex<Option<Vec<u8>>>,
    connections: AtomicUsize,
}

/// The receiver; clones share it.
#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Starts a receiver that answers `status` to everything (until scripted otherwise).
    pub async fn start(status: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner::default());
        *inner.default_status.lock().unwrap() = status;
        let i = inner.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                i.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, i.clone()));
            }
        });
        Receiver { port, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next answers, in order, before the default again.
    pub fn script(&self, statuses: &[u16]) {
        self.inner.script.lock().unwrap().extend(statuses);
    }

    /// Answers this body from now on.
    pub fn set_body(&self, body: &[u8]) {
        *self.inner.body.lock().unwrap() = Some(body.to_vec());
    }

    pub fn set_default(&self, status: u16) {
        *self.inner.default_status.lock().unwrap() = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived (at most `secs`), then returns them all.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = app::clock::instant() + Duration::from_secs(secs);
        while self.count() < n && app::clock::instant() <= deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received()
    }
}

async fn serve(mut sock: tokio::net::TcpStream, inner: Arc<Inner>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Headers.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("")
            .to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        buf.drain(..head_end + 4);
        while buf.len() < len {
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        inner.received.lock().unwrap().push(Received {
            path,
            headers,
            body,
            at: app::clock::instant(),
        });
        inner.count.fetch_add(1, Ordering::SeqCst);
        let status = inner
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(*inner.default_status.lock().unwrap());
        let answer = inner
            .body
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| format!("receiver answered {status}").into_bytes());
        let mut resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            answer.len()
        )
        .into_bytes();
        resp.extend_from_slice(&answer);
        if sock.write_all(&resp).await.is_err() {
            return;
        }
    }
}

/// Independent of the crate that signs: HMAC-SHA256 from the RustCrypto crates directly.
pub fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

pub fn key_of(secret: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

/// Both schemes verify with `secret`; returns how many v1 signatures each header carried.
pub fn assert_signed(r: &Received, secret: &str) -> (usize, usize) {
    let key = key_of(secret);
    let sig = r.header("x-humanhours-signature");
    let t = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .expect("t=");
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let want: String = hmac(&key, &msg)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let v1: Vec<&str> = sig
        .split(',')
        .filter_map(|p| p.strip_prefix("v1="))
        .collect();
    assert!(v1.contains(&want.as_str()), "humanhours signature: {sig}");
    let now = app::clock::now().unix_timestamp();
    assert!(
        (now - t.parse::<i64>().unwrap()).abs() < 60,
        "t is the attempt's time"
    );

    let (id, ts) = (r.header("webhook-id"), r.header("webhook-timestamp"));
    assert_eq!(ts, t);
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let want = base64::engine::general_purpose::STANDARD.encode(hmac(&key, &msg));
    let sigs: Vec<&str> = r
        .header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .collect();
    assert!(sigs.contains(&want.as_str()), "standard signature");
    (v1.len(), sigs.len())
}
