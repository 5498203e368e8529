//! The webhook worker's HTTP client (`app::webhooks::worker::Transport`): reqwest over the
//! system OpenSSL, with
//!
//! - a resolver that drops refused addresses (`webhooks::address`) before the connector sees
//!   them, so the address checked is the address connected to (a name that resolves to a
//!   public address when saved and to 169.254.169.254 later is refused at connect time; a
//!   literal address in the URL is checked by the worker before sending);
//! - no proxy (an environment proxy would connect on our behalf, past the check), no
//!   redirects (a 3xx is a failed attempt), a time-out per attempt;
//! - the answer's body read only up to 2 KiB.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use app::webhooks::worker::{Request, Response, Transport};
use webhooks::address::AllowNets;

/// Looks a host name up (the system resolver in the server; a table in tests).
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> + Send + Sync,
>;

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| Box::pin(async move { app::webhooks::resolve(&host, 0).await }))
}

/// A resolver that answers only with addresses a delivery may reach.
struct SafeResolver {
    lookup: Lookup,
    allow: AllowNets,
}

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = lookup(host.clone()).await?;
            let mut why = None;
            let ok: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| match app::webhooks::worker::allowed(*ip, &allow) {
                    Ok(()) => true,
                    Err(e) => {
                        why.get_or_insert(e);
                        false
                    }
                })
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if ok.is_empty() {
                let msg = why.unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(
                    Box::new(io::Error::new(io::ErrorKind::PermissionDenied, msg))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(ok.into_iter());
            Ok(addrs)
        })
    }
}

/// The reqwest transport.
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A client whose connections go only where `allow` and the address rules permit.
    pub fn new(allow: AllowNets, lookup: Lookup) -> anyhow::Result<HttpTransport> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(SafeResolver { lookup, allow }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(HttpTransport { client })
    }
}

/// The whole chain of an error, so "error sending request" says what lay under it.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}

impl Transport for HttpTransport {
    fn send(&self, req: Request) -> Pin<Box<dyn Future<Output = Result<Response, String>> + Send>> {
        let mut builder = self
            .client
            .post(req.url.as_str())
            .timeout(req.timeout)
            .body(req.body);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        Box::pin(async move {
            let mut resp = builder.send().await.map_err(|e| describe(&e))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            // Only what is kept is read; the rest of a large answer is dropped with the
            // connection.
            while body.len() < webhooks::RESPONSE_BODY_KEPT {
                match resp.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            body.truncate(webhooks::RESPONSE_BODY_KEPT);
            Ok(Response {
                status,
                retry_after,
                body,
            })
        })
    }
}

/// The feed syncs' HTTP client (`app::feeds::Fetcher`): a GET of an operator-configured URL
/// (the public price listing, the reference rates), so the environment's proxy settings and up
/// to 5 redirects apply, unlike webhooks; a time-out for the whole exchange; at most
/// [`FEED_MAX_BYTES`] of answer; only a 2xx body is used.
pub struct FeedClient {
    client: reqwest::Client,
}

/// The longest feed answer read (OpenRouter's listing is about 1 MB).
pub const FEED_MAX_BYTES: usize = 32 * 1024 * 1024;

impl FeedClient {
    pub fn new(timeout: std::time::Duration) -> anyhow::Result<FeedClient> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("humanhours/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(FeedClient { client })
    }
}

impl app::feeds::Fetcher for FeedClient {
    fn get<'a>(&'a self, url: &'a str) -> jobs::BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let mut resp = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("GET {url}: answered {status}"));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("GET {url}: reading the answer: {e}"))?
            {
                if body.len() + chunk.len() > FEED_MAX_BYTES {
                    return Err(format!(
                        "GET {url}: the answer is over {} MiB",
                        FEED_MAX_BYTES / 1024 / 1024
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            String::from_utf8(body).map_err(|_| format!("GET {url}: the answer is not UTF-8"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn table(entries: &[(&str, &str)]) -> Lookup {
        let map: HashMap<String, IpAddr> = entries
            .iter()
            .map(|(h, ip)| ((*h).to_owned(), ip.parse().unwrap()))
            .collect();
        let map = Arc::new(map);
        Arc::new(move |host: String| {
            let map = map.clone();
            Box::pin(async move {
                map.get(&host)
                    .map(|ip| vec![*ip])
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
            })
        })
    }

    fn request(url: &str) -> Request {
        Request {
            url: url.parse().unwrap(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
            timeout: std::time::Duration::from_secs(5),
        }
    }

    /// A listener on 127.0.0.1 that counts the connections it accepts.
    async fn counting_listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n2 = n.clone();
        tokio::spawn(async move {
            while let Ok((_s, _)) = l.accept().await {
                n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (port, n)
    }

    #[actix_web::test]
    async fn names_resolving_to_refused_addresses_are_never_connected_to() {
        let (port, accepted) = counting_listener().await;
        let lookup = table(&[
            ("metadata.test", "169.254.169.254"),
            ("rebind.test", "127.0.0.1"),
        ]);
        let t = HttpTransport::new(AllowNets::default(), lookup).unwrap();
        let err = t
            .send(request(&format!("http://metadata.test:{port}/latest")))
            .await
            .unwrap_err();
        assert!(err.contains("link-local"), "{err}");
        let err = t
            .send(request(&format!("http://rebind.test:{port}/hook")))
            .await
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[actix_web::test]
    async fn an_allowed_network_is_reached_and_redirects_are_not_followed() {
        // A receiver that redirects: the 3xx comes back as the answer.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let allow = AllowNets::parse("127.0.0.1/32").unwrap();
        let t = HttpTransport::new(allow, table(&[("receiver.test", "127.0.0.1")])).unwrap();
        let r = t
            .send(request(&format!("http://receiver.test:{port}/hook")))
            .await
            .unwrap();
        assert_eq!(r.status, 302);
    }
}
