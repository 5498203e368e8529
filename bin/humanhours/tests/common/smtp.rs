//! An SMTP server on 127.0.0.1 for the tests: enough of RFC 5321 for a real client (EHLO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), recording every accepted message,
//! with per-recipient answers the test scripts (a 550 refuses for good, a 451 for now).

#![allow(dead_code, unreachable_pub, reason = "shared by several test binaries")]
#![expect(clippy::unwrap_used, reason = "test helper")]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message as accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line ends.
    pub data: Vec<u8>,
}

impl Mail {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .unwrap()
    }

    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Default)]
struct Inner {
    mails: Mutex<Vec<Mail>>,
    /// Answers to RCPT TO for an address, in turn (then 250).
    script: Mutex<HashMap<String, VecDeque<u16>>>,
    /// RCPT TO commands seen, per address.
    attempts: Mutex<HashMap<String, usize>>,
}

/// The server; clones share it.
#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    inner: Arc<Inner>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner::default());
        let i = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let i = i.clone();
                tokio::spawn(async move {
                    let _ = session(stream, &i).await;
                });
            }
        });
        SmtpServer { port, inner }
    }

    /// `HUMANHOURS_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    /// The next answers to `RCPT TO:<address>` (e.g. `[451, 451]` then accepted; `[550]`).
    pub fn script(&self, address: &str, codes: &[u16]) {
        self.inner
            .script
            .lock()
            .unwrap()
            .insert(address.to_owned(), codes.iter().copied().collect());
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.inner.mails.lock().unwrap().clone()
    }

    /// RCPT TO commands seen for an address.
    pub fn attempts(&self, address: &str) -> usize {
        self.inner
            .attempts
            .lock()
            .unwrap()
            .get(address)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages arrived (at most `secs`), and returns them all.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Mail> {
        let deadline = app::clock::instant() + Duration::from_secs(secs);
        loop {
            let m = self.mails();
            if m.len() >= n || app::clock::instant() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map_or(arg, |(_, a)| a).trim();
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<').trim_end_matches('>').to_owned()
}

async fn session(stream: tokio::net::TcpStream, inner: &Inner) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 localhost test SMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("MAIL FROM") {
            from = address(&cmd);
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let a = address(&cmd);
            *inner.attempts.lock().unwrap().entry(a.clone()).or_default() += 1;
            let code = inner
                .script
                .lock()
                .unwrap()
                .get_mut(&a)
                .and_then(VecDeque::pop_front)
                .unwrap_or(250);
            if code == 250 {
                to.push(a);
                w.write_all(b"250 OK\r\n").await?;
            } else {
                w.write_all(format!("{code} 5.1.1 <{a}>: scripted answer\r\n").as_bytes())
                    .await?;
            }
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(l.as_bytes());
            }
            inner.mails.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            w.write_all(b"250 OK queued\r\n").await?;
        } else if upper.starts_with("RSET") {
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 command not implemented\r\n").await?;
        }
    }
}
