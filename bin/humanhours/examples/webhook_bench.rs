//! The webhook benchmark's client and receiver (`bench/webhooks.sh`, `just bench-webhooks`).
//!
//! - `webhook_bench sink PORT`: a receiver on 127.0.0.1:PORT that answers every POST with 200
//!   (what the /track A/B runs deliver to), until killed.
//! - `webhook_bench measure BASE KEY [BACKLOG]`: against a running server (HUMANHOURS_WEBHOOK_ALLOW_NETS
//!   must allow 127.0.0.1), with a receiver of its own:
//!   1. deliveries per second: N events tracked while the endpoint is disabled (kept as
//!      skipped), the endpoint re-enabled, `recover` called; the rate is N over the time from
//!      that call to the last arrival;
//!   2. commit-to-delivery latency: single `/track` calls, one every 5 ms; for each event, the
//!      time from sending the request (before the commit: an upper bound) and from its 201
//!      arriving at the client (after the commit: a lower bound, often 0, since the delivery
//!      leaves at the commit) to its message arriving at the receiver. Prints p50 and p99.

#![expect(clippy::unwrap_used, reason = "a benchmark tool")]

#[path = "../tests/common/receiver.rs"]
mod receiver;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn now() -> Instant {
    app::clock::instant()
}

async fn call(c: &reqwest::Client, m: reqwest::Method, url: &str, key: &str, body: Value) -> Value {
    let r = c
        .request(m, url)
        .header("Authorization", format!("Bearer {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

fn event(i: usize) -> Value {
    json!({"agent_id": format!("bench-{}", i % 8), "task_type": "email_classification", "outcome": "success", "agent_duration_seconds": 4})
}

async fn measure(base: &str, key: &str, n: usize, samples: usize) {
    let c = reqwest::Client::new();
    let rx = receiver::Receiver::start(200).await;
    let ep = call(
        &c,
        reqwest::Method::POST,
        &format!("{base}/api/v1/webhooks"),
        key,
        json!({"url": rx.url("/bench"), "event_types": ["event.created"]}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let patch = |enabled: bool| {
        let (c, url, key) = (
            c.clone(),
            format!("{base}/api/v1/webhooks/{id}"),
            key.to_owned(),
        );
        async move {
            call(
                &c,
                reqwest::Method::PATCH,
                &url,
                &key,
                json!({"enabled": enabled}),
            )
            .await
        }
    };

    // 1. A backlog of n, sent as fast as the worker goes.
    patch(false).await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<Value> = chunk.iter().map(|&i| event(i)).collect();
        call(
            &c,
            reqwest::Method::POST,
            &format!("{base}/api/v1/track/batch"),
            key,
            json!({"events": events}),
        )
        .await;
    }
    patch(true).await;
    let started = now();
    let r = call(
        &c,
        reqwest::Method::POST,
        &format!("{base}/api/v1/webhooks/{id}/recover"),
        key,
        json!({"since": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(r["requeued"].as_u64(), Some(n as u64));
    let got = rx.wait_for(n, 600).await;
    assert!(got.len() >= n, "only {} of {n} delivered", got.len());
    let last = got.iter().map(|r| r.at).max().unwrap();
    let secs = (last - started).as_secs_f64();
    println!(
        "webhooks: deliveries/s to a local receiver (backlog of {n}, defaults): {:.0}/s ({secs:.2} s) [target >= 2000/s]",
        n as f64 / secs
    );

    // 2. Latency, one event at a time.
    let before = rx.received().len();
    let mut acked: HashMap<String, (Instant, Instant)> = HashMap::new();
    for i in 0..samples {
        let sent = now();
        let r = c
            .post(format!("{base}/api/v1/track"))
            .header("Authorization", format!("Bearer {key}"))
            .json(&event(i))
            .send()
            .await
            .unwrap();
        let at = now();
        let v: Value = r.json().await.unwrap();
        acked.insert(v["event_id"].as_str().unwrap().to_owned(), (sent, at));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = rx.wait_for(before + samples, 120).await;
    let mut from_send: Vec<Duration> = Vec::new();
    let mut from_ack: Vec<Duration> = Vec::new();
    for r in &got[before..] {
        let Some(id) = r.json()["data"]["event_id"].as_str().map(str::to_owned) else {
            continue;
        };
        if let Some((sent, acked)) = acked.get(&id) {
            from_send.push(r.at.saturating_duration_since(*sent));
            from_ack.push(r.at.saturating_duration_since(*acked));
        }
    }
    assert_eq!(from_send.len(), samples, "every sampled event delivered");
    let pct = |v: &mut Vec<Duration>, p: usize| {
        v.sort();
        v[(v.len() * p / 100).min(v.len() - 1)].as_secs_f64() * 1000.0
    };
    let arrived_first = from_ack.iter().filter(|d| d.is_zero()).count();
    println!(
        "webhooks: commit-to-delivery latency ({samples} events, one per 5 ms), measured from the request's send (commit comes after it): p50 {:.1} ms, p99 {:.1} ms [target p50 < 100 ms]",
        pct(&mut from_send, 50),
        pct(&mut from_send, 99)
    );
    println!(
        "webhooks: the same from the 201's arrival at the client: p50 {:.1} ms, p99 {:.1} ms ({arrived_first} of {samples} deliveries arrived before their 201)",
        pct(&mut from_ack, 50),
        pct(&mut from_ack, 99)
    );
}

#[actix_web::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sink") => {
            let port: u16 = args[2].parse().unwrap();
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 65536];
                    let mut have = 0usize;
                    loop {
                        match s.read(&mut buf[have..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => have += n,
                        }
                        // Answer each complete request (headers + Content-Length body).
                        while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n")
                        {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if have < end + 4 + len {
                                break;
                            }
                            buf.copy_within(end + 4 + len..have, 0);
                            have -= end + 4 + len;
                            if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        if have == buf.len() {
                            return;
                        }
                    }
                });
            }
        }
        Some("measure") => {
            let n = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(20_000);
            measure(&args[2], &args[3], n, 1000).await;
        }
        _ => eprintln!("usage: webhook_bench sink PORT | measure BASE KEY [BACKLOG]"),
    }
}
