//! The SMTP client of digest emails (lettre, async on tokio, rustls with the system's trusted
//! roots), configured by `HUMANHOURS_SMTP_URL` and `HUMANHOURS_MAIL_FROM`.
//!
//! URL forms (API.md §10): `smtp://user:pass@host:587` (STARTTLS, required), `smtps://…:465`
//! (TLS from the first byte), `smtp+plain://host:port` (no TLS: a relay on this machine or
//! network). The user and password are percent-decoded.

use std::time::Duration;

use anyhow::{bail, Context as _};
use app::digests::{Digest, MailError, MailSettings, Mailer};
use jobs::BoxFuture;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

/// One SMTP exchange longer than this fails (retried later).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP client.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// A percent-encoded URL part (`p%40ss` → `p@ss`; a `+` stays a `+`).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether an SMTP error is the recipient's own refusal, for good: 550 (no such mailbox, or
/// not allowed), 551 (not local), 553 (mailbox name not allowed). Any other refusal (the
/// login, 530/535; the sender or relaying, 554; a full server, 552) and every failure to
/// connect or to talk TLS is worth another attempt: fixing the settings or waiting makes it
/// succeed, and the recipient is not to blame.
fn recipient_refused(e: &lettre::transport::smtp::Error) -> bool {
    let code = e.status().map(|c| c.to_string());
    e.is_permanent() && matches!(code.as_deref(), Some("550" | "551" | "553"))
}

impl SmtpMailer {
    /// A client for these settings; a wrong URL or sender is a clear error (at start-up).
    pub fn new(settings: &MailSettings) -> anyhow::Result<SmtpMailer> {
        let url = url::Url::parse(&settings.smtp_url)
            .ok()
            .filter(|u| u.host_str().is_some_and(|h| !h.is_empty()))
            .with_context(|| {
                "HUMANHOURS_SMTP_URL must look like smtp://user:pass@host:587, smtps://user:pass@host:465 or smtp+plain://host:25"
            })?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let builder = match url.scheme() {
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .context("HUMANHOURS_SMTP_URL: TLS set-up")?
                .port(url.port().unwrap_or(587)),
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .context("HUMANHOURS_SMTP_URL: TLS set-up")?
                .port(url.port().unwrap_or(465)),
            "smtp+plain" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(url.port().unwrap_or(25)),
            other => bail!(
                "HUMANHOURS_SMTP_URL: the scheme '{other}' is not one of smtp (STARTTLS), smtps (TLS), smtp+plain (no TLS)"
            ),
        };
        let builder = if url.username().is_empty() {
            builder
        } else {
            builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ))
        };
        let from: Mailbox = settings.from.parse().with_context(|| {
            format!(
                "HUMANHOURS_MAIL_FROM '{}' is not an address such as \"HumanHours <digest@example.com>\"",
                settings.from
            )
        })?;
        Ok(SmtpMailer {
            transport: builder.timeout(Some(TIMEOUT)).build(),
            from,
        })
    }

    /// The message for one recipient: HTML and plain text as alternatives.
    pub fn message(&self, to: &str, digest: &Digest) -> Result<Message, MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Permanent(format!("the address cannot be used: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(super::subject(digest))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(super::text(digest)),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(super::html(digest)),
                    ),
            )
            .map_err(|e| MailError::Permanent(format!("the message cannot be built: {e}")))
    }
}

/// The mailer of an instance's settings; `None` (and one log line saying so) without SMTP.
pub fn from_settings(
    settings: Option<&MailSettings>,
) -> anyhow::Result<Option<std::sync::Arc<dyn Mailer>>> {
    match settings {
        None => {
            tracing::info!("HUMANHOURS_SMTP_URL is not set: digests are not emailed (their webhooks are still sent)");
            Ok(None)
        }
        Some(s) => {
            let m = SmtpMailer::new(s)?;
            tracing::info!(from = %m.from, "digest emails go through HUMANHOURS_SMTP_URL");
            Ok(Some(std::sync::Arc::new(m)))
        }
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, to: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let message = self.message(to, digest)?;
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if recipient_refused(&e) => Err(MailError::Permanent(e.to_string())),
                Err(e) => Err(MailError::Transient(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_percent_decoded_and_plus_is_kept() {
        assert_eq!(decode("p%40ss+w%26rd"), "p@ss+w&rd");
        assert_eq!(decode("plain"), "plain");
    }

    #[test]
    fn urls_are_checked_at_start() {
        let s = |u: &str| MailSettings {
            smtp_url: u.into(),
            from: "HumanHours <digest@example.com>".into(),
        };
        for ok in [
            "smtp://user:p%40ss@mail.example.com:587",
            "smtps://mail.example.com",
            "smtp+plain://127.0.0.1:2525",
        ] {
            assert!(SmtpMailer::new(&s(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "mail.example.com:25",
            "",
        ] {
            assert!(SmtpMailer::new(&s(bad)).is_err(), "{bad}");
        }
        let wrong_from = MailSettings {
            from: "not an address".into(),
            ..s("smtp+plain://127.0.0.1:25")
        };
        assert!(SmtpMailer::new(&wrong_from).is_err());
    }
}
