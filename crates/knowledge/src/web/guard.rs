//! Keeping the crawler off private networks (SSRF).
//!
//! Rapport runs next to databases, admin panels and cloud metadata endpoints
//! (`169.254.169.254`), and the URLs it crawls are typed by users, so a crawler that follows any
//! URL would let them read those. Two checks close that door:
//!
//! - [`check_url`] refuses URLs whose host is an IP literal in a non-public range — reqwest does
//!   not consult the resolver for those;
//! - [`GuardedResolver`] is the HTTP client's DNS resolver: it drops every non-public address a
//!   name resolves to, at connection time, so a name that resolves (or re-resolves, as in DNS
//!   rebinding) to `127.0.0.1` never gets connected to.
//!
//! Both run on every redirect hop, since redirects are followed by hand.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Tells why an address must not be reached (`Some("a loopback address")`), or `None` for a
/// public one.
pub type Classifier = fn(IpAddr) -> Option<&'static str>;

/// What admins see next to the crawler's refusals, since the fix is a setting.
pub const CRAWL_HINT: &str = "set knowledge.web.allow_private_addresses to crawl private networks";

/// Whether `ip` is an ordinary public unicast address the crawler may connect to.
pub fn is_public(ip: IpAddr) -> bool {
    classify(ip).is_none()
}

/// Which kind of non-public address `ip` is, worded to follow "127.0.0.1 is …".
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified address",
        (0, ..) => "a \"this network\" address",
        (10, ..) | (192, 168, _) => "a private address",
        (172, 16..=31, _) => "a private address",
        (100, 64..=127, _) => "a carrier-grade NAT address",
        (127, ..) => "a loopback address",
        (169, 254, _) => "a link-local address",
        (192, 0, 0) => "an IETF protocol assignment address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 88, 99) => "a 6to4 relay address",
        (198, 18..=19, _) => "a benchmarking address",
        _ if ip.is_broadcast() => "the broadcast address",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved address",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that embed an IPv4 address reach that address, so they are what it is.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // NAT64 (64:ff9b::/96) translates to the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16) tunnels to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0x64 if s[1] == 0xff9b && s[2] == 1 => "a local-use NAT64 address",
        0x100 if s[1..4] == [0, 0, 0] => "a discard-only address",
        0x2001 if s[1] == 0xdb8 => "a documentation address",
        // Includes Teredo (2001::/32), which tunnels to arbitrary IPv4 addresses.
        0x2001 if s[1] < 0x200 => "an IETF protocol assignment address",
        0x3fff if s[1] < 0x1000 => "a documentation address",
        0x5f00 => "a segment-routing address",
        x if x & 0xfe00 == 0xfc00 => "a unique-local address",
        x if x & 0xffc0 == 0xfe80 => "a link-local address",
        x if x & 0xffc0 == 0xfec0 => "a site-local address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        // Only 2000::/3 is allocated for global unicast.
        x if x & 0xe000 != 0x2000 => "a reserved address",
        _ => return None,
    })
}

/// Refuses non-HTTP URLs and IP-literal hosts the classifier rejects; names are left to
/// [`GuardedResolver`]. The error is the reason, for "refused to fetch URL: reason".
pub fn check_url(url: &Url, classify: Classifier) -> Result<(), String> {
    check_url_hinted(url, classify, CRAWL_HINT)
}

/// [`check_url`] for another caller of the guard, whose setting the `hint` names.
pub fn check_url_hinted(url: &Url, classify: Classifier, hint: &str) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs can be fetched, not {}:",
            url.scheme()
        ));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    match classify(ip) {
        Some(kind) => Err(format!("{ip} is {kind}; {hint}")),
        None => Ok(()),
    }
}

/// The guard's verdict, carried through reqwest's error chain so the crawler can tell a refusal
/// from a network failure and show it as such.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// System DNS resolution with the non-public addresses taken out.
#[derive(Clone, Copy)]
pub struct GuardedResolver {
    pub classify: Classifier,
    /// What the refusal tells the admin to change.
    pub hint: &'static str,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (classify, hint) = (self.classify, self.hint);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refused = None;
            for addr in resolved {
                match classify(addr.ip()) {
                    None => allowed.push(addr),
                    Some(kind) => {
                        refused.get_or_insert((addr.ip(), kind));
                    }
                }
            }
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match refused {
                    Some((ip, kind)) => Box::new(Refusal(format!(
                        "{host} resolves to {ip}, which is {kind}; {hint}"
                    ))),
                    None => format!("{host} has no address").into(),
                };
                return Err(error);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for (s, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001::1", "IETF"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
            ("2002:c0a8:101::1", "private"),
            ("::127.0.0.1", "reserved"),
            ("fec0::1", "site-local"),
        ] {
            let got = classify(ip(s));
            assert!(
                got.is_some_and(|k| k.contains(kind)),
                "{s}: expected {kind}, got {got:?}"
            );
            assert!(!is_public(ip(s)));
        }
    }

    #[test]
    fn literal_hosts_are_checked_before_any_request() {
        let check = |s: &str| check_url(&Url::parse(s).unwrap(), classify);
        let err = check("http://127.0.0.1:8080/").unwrap_err();
        assert!(err.contains("127.0.0.1 is a loopback address"), "{err}");
        assert!(err.contains("allow_private_addresses"), "{err}");
        assert!(check("http://[::1]/").unwrap_err().contains("loopback"));
        // Decimal and hex spellings of an address are still that address.
        assert!(
            check("http://2130706433/")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(check("http://0x7f.1/").unwrap_err().contains("loopback"));
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        assert!(check("http://[::ffff:192.168.0.1]/").is_err());
        assert!(check("ftp://example.com/").is_err());
        assert!(check("https://example.com/").is_ok());
        assert!(check("https://8.8.8.8/").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let resolver = GuardedResolver {
            classify,
            hint: CRAWL_HINT,
        };
        let name: Name = "localhost".parse().unwrap();
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        assert!(err.downcast_ref::<Refusal>().is_some(), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");

        let open = GuardedResolver {
            classify: |_| None,
            hint: CRAWL_HINT,
        };
        let addrs: Vec<_> = match open.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(!addrs.is_empty());
    }
}
