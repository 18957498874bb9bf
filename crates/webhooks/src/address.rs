//! Which URLs may receive webhooks: server-side request forgery is refused twice, when an
//! endpoint is registered and at every delivery (a name may resolve elsewhere later).

use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where deliveries may go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Loopback receivers are allowed, over `http` too: the local stack's own tests and
    /// developers. Never on AWS, where loopback is the function itself.
    pub allow_loopback: bool,
}

/// A URL that passed the checks, with the addresses it resolved to: a delivery connects to
/// these and no others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub addresses: Vec<SocketAddr>,
}

/// Why a URL may not receive webhooks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("url: not an absolute URL ({0})")]
    Malformed(String),
    #[error("url: at most {max} characters")]
    TooLong { max: usize },
    #[error("url: must be https, not {0}")]
    Scheme(String),
    #[error("url: must not carry a user name or password")]
    Credentials,
    #[error("url: must not carry a fragment")]
    Fragment,
    #[error("url: has no host")]
    NoHost,
    #[error("url: {host} resolves to {address}, a {kind} address, which may not receive webhooks")]
    Forbidden {
        host: String,
        address: IpAddr,
        kind: &'static str,
    },
    #[error("url: {host} does not resolve ({reason})")]
    Unresolved { host: String, reason: String },
}

/// The longest URL an endpoint may have.
pub const MAX_URL: usize = 2048;

/// The syntactic checks: an absolute `https` URL without credentials or fragment (`http` only
/// for a loopback host where the policy allows loopback).
pub fn parse(text: &str, policy: Policy) -> Result<Url, Refusal> {
    if text.len() > MAX_URL {
        return Err(Refusal::TooLong { max: MAX_URL });
    }
    let url = Url::parse(text).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    if url.fragment().is_some() {
        return Err(Refusal::Fragment);
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(Refusal::NoHost)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback && is_loopback_name(host) => {}
        other => return Err(Refusal::Scheme(other.to_owned())),
    }
    Ok(url)
}

/// [`parse`], then resolves the host and checks every address it has: one forbidden address
/// refuses the URL (a name with a public and a private address could be steered to either).
pub async fn resolve(text: &str, policy: Policy) -> Result<Target, Refusal> {
    let url = parse(text, policy)?;
    let host = url.host_str().ok_or(Refusal::NoHost)?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    // An IP literal resolves to itself; `[::1]` is written without brackets for the resolver.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| Refusal::Unresolved {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Refusal::Unresolved {
            host,
            reason: "no address".into(),
        });
    }
    for address in &addresses {
        if let Some(kind) = forbidden(address.ip(), policy) {
            return Err(Refusal::Forbidden {
                host,
                address: address.ip(),
                kind,
            });
        }
    }
    Ok(Target {
        url,
        host: bare.to_owned(),
        addresses,
    })
}

fn is_loopback_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What kind of address `ip` is, when it may not receive webhooks.
pub fn forbidden(ip: IpAddr, policy: Policy) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4, policy),
        IpAddr::V6(v6) => forbidden_v6(v6, policy),
    }
}

fn forbidden_v4(ip: Ipv4Addr, policy: Policy) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => {
            return (!policy.allow_loopback).then_some("loopback");
        }
        (0, _, _) => "unspecified",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        // The instance metadata service (169.254.169.254), the Amazon DNS and time servers.
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "carrier-grade NAT",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr, policy: Policy) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_loopback() {
        return (!policy.allow_loopback).then_some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // An IPv4 address inside an IPv6 one is judged as the IPv4 address: mapped (::ffff:a.b.c.d),
    // translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4
    // (2002::/16).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4, policy);
    }
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] || segments[..6] == [0, 0, 0, 0, 0, 0] {
        return forbidden_v4(embedded(segments[6], segments[7]), policy);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(segments[6], segments[7]), policy);
    }
    if segments[0] == 0x2002 {
        return forbidden_v4(embedded(segments[1], segments[2]), policy);
    }
    // Prefixes that reach IPv4 hosts no one can judge from here: a network's own NAT64 prefix
    // (64:ff9b:1::/48, RFC 8215) translates to whatever that network routes, and a Teredo
    // address (2001::/32) tunnels to a client behind a NAT.
    if segments[..3] == [0x64, 0xff9b, 1] {
        return Some("local NAT64");
    }
    if segments[..2] == [0x2001, 0] {
        return Some("Teredo");
    }
    Some(match segments[0] {
        // Unique local: the IPv6 metadata service (fd00:ec2::254) among them.
        s if s & 0xfe00 == 0xfc00 => "unique local",
        s if s & 0xffc0 == 0xfe80 => "link-local",
        s if s & 0xffc0 == 0xfec0 => "site-local",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x2001 if segments[1] == 0x0db8 => "documentation",
        _ => return None,
    })
}

fn embedded(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: Policy = Policy {
        allow_loopback: false,
    };
    const LOCAL: Policy = Policy { allow_loopback: true };

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn private_link_local_and_metadata_addresses_are_forbidden() {
        for (address, kind) in [
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("169.254.170.2", "link-local"),
            ("100.100.100.200", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "unique local"),
            ("fe80::1", "link-local"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:a9fe:a9fe::1", "link-local"),
            ("2001:db8::1", "documentation"),
            ("::ffff:0:a9fe:a9fe", "link-local"),
            ("::ffff:0:10.0.0.1", "private"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("64:ff9b:1::8.8.8.8", "local NAT64"),
            ("64:ff9b:1:ffff::1", "local NAT64"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001::1", "Teredo"),
        ] {
            assert_eq!(forbidden(ip(address), AWS), Some(kind), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_allowed_and_loopback_only_locally() {
        for address in [
            "93.184.215.14",
            "172.32.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(forbidden(ip(address), AWS), None, "{address}");
        }
        assert_eq!(forbidden(ip("127.0.0.1"), LOCAL), None);
        assert_eq!(forbidden(ip("::1"), LOCAL), None);
        assert_eq!(forbidden(ip("10.0.0.1"), LOCAL), Some("private"));
        assert_eq!(forbidden(ip("169.254.169.254"), LOCAL), Some("link-local"));
    }

    #[test]
    fn only_https_urls_without_credentials_are_accepted() {
        assert!(parse("https://hooks.example.com/sbx?x=1", AWS).is_ok());
        assert_eq!(
            parse("http://hooks.example.com/", AWS),
            Err(Refusal::Scheme("http".into()))
        );
        assert_eq!(
            parse("ftp://example.com/", AWS),
            Err(Refusal::Scheme("ftp".into()))
        );
        assert_eq!(parse("https://u:p@example.com/", AWS), Err(Refusal::Credentials));
        assert_eq!(parse("https://example.com/#x", AWS), Err(Refusal::Fragment));
        assert!(matches!(parse("not a url", AWS), Err(Refusal::Malformed(_))));
        assert!(matches!(
            parse(&format!("https://example.com/{}", "a".repeat(MAX_URL)), AWS),
            Err(Refusal::TooLong { .. })
        ));
        // Plain HTTP only to loopback, and only where loopback is allowed.
        assert!(parse("http://127.0.0.1:9/hook", LOCAL).is_ok());
        assert!(parse("http://localhost:9/hook", LOCAL).is_ok());
        assert!(parse("http://127.0.0.1:9/hook", AWS).is_err());
        assert!(parse("http://example.com/hook", LOCAL).is_err());
    }

    #[tokio::test]
    async fn resolving_checks_every_address() {
        let refused = resolve("https://169.254.169.254/latest/meta-data/", AWS).await;
        assert!(
            matches!(
                refused,
                Err(Refusal::Forbidden {
                    kind: "link-local",
                    ..
                })
            ),
            "{refused:?}"
        );
        let refused = resolve("https://[fd00:ec2::254]/", AWS).await;
        assert!(matches!(
            refused,
            Err(Refusal::Forbidden {
                kind: "unique local",
                ..
            })
        ));
        let refused = resolve("https://localhost:8443/", AWS).await;
        assert!(
            matches!(refused, Err(Refusal::Forbidden { kind: "loopback", .. })),
            "{refused:?}"
        );
        let target = resolve("http://127.0.0.1:8080/hook", LOCAL)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            target.addresses,
            vec!["127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}"))]
        );
        // IPv4 written in decimal, octal, hexadecimal or with fewer parts is the same address
        // (WHATWG's host parser, as browsers and curl read it).
        for (url, kind) in [
            ("https://2852039166/", "link-local"),
            ("https://0251.0376.0251.0376/", "link-local"),
            ("https://0xa9.0xfe.0xa9.0xfe/", "link-local"),
            ("https://0xa9fea9fe/", "link-local"),
            ("https://169.254.43518/", "link-local"),
            ("https://017700000001/", "loopback"),
            ("https://0x7f.1/", "loopback"),
            ("https://012.0.0.1/", "private"),
            ("https://167772161/", "private"),
        ] {
            let refused = resolve(url, AWS).await;
            assert!(
                matches!(&refused, Err(Refusal::Forbidden { kind: k, .. }) if *k == kind),
                "{url}: {refused:?}"
            );
        }
        let unresolved = resolve("https://no-such-host.invalid/", AWS).await;
        assert!(
            matches!(unresolved, Err(Refusal::Unresolved { .. })),
            "{unresolved:?}"
        );
    }
}
