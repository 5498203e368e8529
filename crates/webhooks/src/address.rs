//! Where a delivery may go (API.md §9, network safety). An endpoint URL is `http` or `https`
//! with a host; the addresses its host resolves to are checked at connect time, so a name
//! that later resolves elsewhere (DNS rebinding) cannot reach a refused address. Refused unless
//! an allowed network holds them: loopback, link-local, unspecified, multicast, broadcast,
//! private and shared ranges, documentation ranges, and their IPv4-mapped IPv6 forms.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok()?
            }
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    /// Whether the network holds `ip` (an IPv4-mapped IPv6 address matches IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The networks a self-hoster allows despite the rules (`HUMANHOURS_WEBHOOK_ALLOW_NETS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowNets(Vec<Net>);

impl AllowNets {
    /// Parses a comma- or space-separated CIDR list; the error names the first bad entry.
    pub fn parse(list: &str) -> Result<AllowNets, String> {
        list.split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(|s| Net::parse(s).ok_or_else(|| s.trim().to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(AllowNets)
    }

    pub fn nets(&self) -> &[Net] {
        &self.0
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn v4_reason(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, ..] = a.octets();
    if a.is_loopback() {
        Some("loopback")
    } else if a.is_link_local() {
        Some("link-local")
    } else if o0 == 0 {
        Some("unspecified")
    } else if a.is_multicast() {
        Some("multicast")
    } else if a.is_broadcast() || o0 >= 240 {
        Some("reserved")
    } else if a.is_private() {
        Some("private")
    } else if o0 == 100 && (64..128).contains(&o1) {
        Some("shared (carrier-grade NAT)")
    } else if a.is_documentation() || (o0 == 198 && (o1 == 18 || o1 == 19)) {
        Some("reserved")
    } else {
        None
    }
}

fn v6_reason(a: Ipv6Addr) -> Option<&'static str> {
    let first = a.segments()[0];
    if a.is_loopback() {
        Some("loopback")
    } else if a.is_unspecified() {
        Some("unspecified")
    } else if a.is_multicast() {
        Some("multicast")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private")
    } else if first == 0x2001 && a.segments()[1] == 0x0db8 {
        Some("reserved")
    } else if a.segments()[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) addresses: ::a.b.c.d.
        Some("reserved")
    } else {
        None
    }
}

/// Why `ip` may not be connected to, or `None` when it may: a public address, or one an
/// allowed network holds.
pub fn refused(ip: IpAddr, allow: &AllowNets) -> Option<&'static str> {
    if allow.0.iter().any(|n| n.contains(ip)) {
        return None;
    }
    match canonical(ip) {
        IpAddr::V4(a) => v4_reason(a),
        IpAddr::V6(a) => v6_reason(a),
    }
}

/// Why an endpoint URL is refused as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url must be an absolute http or https URL")]
    NotHttp,
    #[error("url must name a host")]
    NoHost,
    #[error("url is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("url must not carry a user name or password")]
    Credentials,
    #[error("url must not have a #fragment")]
    Fragment,
    #[error(
        "url points to a {0} address, which webhooks may not reach (HUMANHOURS_WEBHOOK_ALLOW_NETS)"
    )]
    Refused(&'static str),
}

/// A checked endpoint URL: its normalized text and the host to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    pub url: url::Url,
}

impl EndpointUrl {
    /// Checks a URL as saved. A literal address is checked here; a name is checked by the
    /// caller after resolving it, and again at every connection.
    pub fn parse(s: &str, allow: &AllowNets) -> Result<EndpointUrl, UrlError> {
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(s).map_err(|_| UrlError::NotHttp)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        match url.host() {
            None => Err(UrlError::NoHost),
            Some(url::Host::Domain("")) => Err(UrlError::NoHost),
            Some(url::Host::Ipv4(a)) => match refused(IpAddr::V4(a), allow) {
                Some(why) => Err(UrlError::Refused(why)),
                None => Ok(EndpointUrl { url }),
            },
            Some(url::Host::Ipv6(a)) => match refused(IpAddr::V6(a), allow) {
                Some(why) => Err(UrlError::Refused(why)),
                None => Ok(EndpointUrl { url }),
            },
            Some(url::Host::Domain(_)) => Ok(EndpointUrl { url }),
        }
    }

    /// The host name to resolve, or `None` for a literal address.
    pub fn domain(&self) -> Option<&str> {
        self.url.domain()
    }

    /// The port (the scheme's default when not written).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_the_documented_ranges() {
        let none = AllowNets::default();
        for (a, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.1", "loopback"),
            ("::1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("255.255.255.255", "reserved"),
        ] {
            assert_eq!(refused(ip(a), &none), Some(why), "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "1.1.1.1",
        ] {
            assert_eq!(refused(ip(a), &none), None, "{a}");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_their_range() {
        let allow = AllowNets::parse("127.0.0.1/32, 10.0.0.0/8 fd00::/8").unwrap();
        assert_eq!(refused(ip("127.0.0.1"), &allow), None);
        assert_eq!(refused(ip("::ffff:127.0.0.1"), &allow), None, "mapped form");
        assert_eq!(refused(ip("127.0.0.2"), &allow), Some("loopback"));
        assert_eq!(refused(ip("10.200.0.1"), &allow), None);
        assert_eq!(refused(ip("fd00::5"), &allow), None);
        assert_eq!(refused(ip("169.254.169.254"), &allow), Some("link-local"));
        assert_eq!(AllowNets::parse("10.0.0.0/33"), Err("10.0.0.0/33".into()));
        assert_eq!(AllowNets::parse("nope"), Err("nope".into()));
        assert_eq!(AllowNets::parse("10.0.0.0/"), Err("10.0.0.0/".into()));
        assert_eq!(AllowNets::parse(""), Ok(AllowNets::default()));
        assert_eq!(
            Net::parse("0.0.0.0/0").map(|n| n.contains(ip("8.8.8.8"))),
            Some(true)
        );
    }

    #[test]
    fn url_rules() {
        let none = AllowNets::default();
        let ok = EndpointUrl::parse("https://hooks.example.com/in?x=1", &none).unwrap();
        assert_eq!(ok.domain(), Some("hooks.example.com"));
        assert_eq!(ok.port(), 443);
        for (bad, err) in [
            ("ftp://example.com/", UrlError::NotHttp),
            ("example.com/hook", UrlError::NotHttp),
            ("https://u:p@example.com/", UrlError::Credentials),
            ("https://example.com/#x", UrlError::Fragment),
            ("http://127.0.0.1:9/", UrlError::Refused("loopback")),
            ("http://[::1]/", UrlError::Refused("loopback")),
            (
                "http://169.254.169.254/latest",
                UrlError::Refused("link-local"),
            ),
            ("http://2130706433/", UrlError::Refused("loopback")),
            ("http://0x7f.1/", UrlError::Refused("loopback")),
        ] {
            assert_eq!(EndpointUrl::parse(bad, &none), Err(err), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(EndpointUrl::parse(&long, &none), Err(UrlError::TooLong));
        let allow = AllowNets::parse("127.0.0.0/8").unwrap();
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/hook", &allow).is_ok());
    }
}
