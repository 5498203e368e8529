//! The email addresses an org's digest goes to.

/// Most recipients of one org's digest (API.md §10).
pub const MAX_RECIPIENTS: usize = 10;

/// Why a recipient list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientsError {
    #[error("at most {MAX_RECIPIENTS} digest recipients, got {0}")]
    TooMany(usize),
    #[error("'{0}' is not an email address such as cfo@example.com")]
    Address(String),
}

/// A checked list of addresses: each `local@domain` (ASCII, no spaces, quotes or angle
/// brackets, so nothing can reach a mail header but the address; the domain a dotted host
/// name), at most 254 characters, the domain lower-cased, duplicates (ignoring case) dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients(Vec<String>);

impl Recipients {
    /// Parses addresses separated by commas or whitespace; an empty text is an empty list.
    ///
    /// ```
    /// use digests::Recipients;
    ///
    /// let r = Recipients::parse("cfo@Example.com, ops@example.com cfo@example.COM").unwrap();
    /// assert_eq!(r.as_slice(), ["cfo@example.com", "ops@example.com"]);
    /// assert!(Recipients::parse("Boss <boss@example.com>").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Recipients, RecipientsError> {
        Self::from_list(
            text.split([',', ' ', '\t', '\n', '\r'])
                .filter(|s| !s.is_empty()),
        )
    }

    /// Checks a list of addresses.
    pub fn from_list<'a>(
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<Recipients, RecipientsError> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = 0;
        for item in items {
            seen += 1;
            let a = address(item.trim())?;
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
                out.push(a);
            }
        }
        if out.len() > MAX_RECIPIENTS {
            return Err(RecipientsError::TooMany(seen));
        }
        Ok(Recipients(out))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As stored: the addresses joined by single spaces.
    pub fn stored(&self) -> String {
        self.0.join(" ")
    }
}

fn address(s: &str) -> Result<String, RecipientsError> {
    let bad = || RecipientsError::Address(s.chars().take(80).collect());
    let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok || s.len() > 254 {
        return Err(bad());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(Recipients::parse("").unwrap().is_empty());
        assert_eq!(
            Recipients::parse("a.b+tag@mail.example.co.uk")
                .unwrap()
                .stored(),
            "a.b+tag@mail.example.co.uk"
        );
        for bad in [
            "no-at",
            "@example.com",
            "a@localhost",
            "a@-x.com",
            "a@x..com",
            "a b@x.com",
            "a\r\nBcc: x@y.com@x.com",
            "\"quoted\"@x.com",
            ".a@x.com",
            "a@exämple.com",
        ] {
            assert!(Recipients::from_list([bad]).is_err(), "{bad}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("u{i}@x.com")).collect();
        assert_eq!(
            Recipients::from_list(eleven.iter().map(String::as_str)),
            Err(RecipientsError::TooMany(11))
        );
        let ten_and_a_dup: Vec<String> = (0..10)
            .map(|i| format!("u{i}@x.com"))
            .chain(["U0@X.com".to_owned()])
            .collect();
        assert_eq!(
            Recipients::from_list(ten_and_a_dup.iter().map(String::as_str))
                .unwrap()
                .as_slice()
                .len(),
            10
        );
    }
}
