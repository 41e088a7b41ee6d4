//! Where the control plane's own requests may go on behalf of API callers (webhook
//! endpoints made through the API): never into the deployment's own networks unless the
//! operator allows it.
//!
//! A caller with an API key could otherwise point an endpoint at the cloud's metadata
//! service (`169.254.169.254`), the database or an admin listener on loopback, and read or
//! poke them through the delivery log. So a URL is refused when its host is, or resolves to,
//! a loopback, private, shared (CGNAT), link-local, unique-local, multicast, unspecified or
//! metadata address — checked when the endpoint is made, and again at every delivery by the
//! resolver the delivering client uses (a name that later resolves elsewhere, DNS
//! rebinding, is caught there). Networks listed in `[outbound] allow_networks` are allowed
//! anyway (a receiver on the same host in development, an internal service on purpose).
//! Endpoints in the config file are the operator's own and are not checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Networks allowed although they are internal.
    pub allowed: Vec<IpNet>,
}

/// Why a URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an absolute `http`/`https` URL with a host.
    #[error("the URL must be http:// or https:// with a host: {0}")]
    Url(String),
    /// The host resolves to nothing.
    #[error("{0} does not resolve")]
    Unresolved(String),
    /// An address is internal.
    #[error("{host} resolves to {ip}, a {kind} address; webhooks may not point into internal networks unless [outbound] allow_networks lists it")]
    Internal {
        /// The URL's host.
        host: String,
        /// The address.
        ip: IpAddr,
        /// What kind of address it is.
        kind: &'static str,
    },
}

impl Policy {
    /// A policy allowing the networks `cidrs` (`10.1.0.0/16`, `::1/128`).
    pub fn new(cidrs: &[String]) -> Result<Policy, String> {
        let allowed = cidrs
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("outbound.allow_networks: {c:?} is not a network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy { allowed })
    }

    /// `Err` with the kind of address when `ip` may not be reached.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = unmapped(ip);
        match internal_kind(ip) {
            Some(kind) if !self.allowed.iter().any(|n| n.contains(&ip)) => Err(kind),
            _ => Ok(()),
        }
    }

    /// Checks `url`: its scheme, and every address its host resolves to now.
    pub async fn check_url(&self, url: &str) -> Result<(), Refused> {
        let parsed = url::Url::parse(url).map_err(|e| Refused::Url(format!("{url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
            return Err(Refused::Url(url.to_string()));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => return self.check_literal(url, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.check_literal(url, IpAddr::V6(ip)),
            None => return Err(Refused::Url(url.to_string())),
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Refused::Unresolved(host.clone()))?
            .collect();
        if addrs.is_empty() {
            return Err(Refused::Unresolved(host));
        }
        for a in addrs {
            self.check_ip(a.ip()).map_err(|kind| Refused::Internal {
                host: host.clone(),
                ip: a.ip(),
                kind,
            })?;
        }
        Ok(())
    }

    fn check_literal(&self, url: &str, ip: IpAddr) -> Result<(), Refused> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        self.check_ip(ip)
            .map_err(|kind| Refused::Internal { host, ip, kind })
    }

    /// A resolver for an HTTP client that drops the addresses this policy refuses (and
    /// fails when none is left), so a name cannot be re-pointed inside after it was checked.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// An IPv4 address carried in IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What kind of internal address `ip` is, if it is one.
fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast or reserved")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64: the IPv4 address in the last 32 bits decides.
        let [.., c, d] = ip.segments();
        internal_v4(Ipv4Addr::from(((c as u32) << 16) | d as u32))
    } else {
        None
    }
}

/// A DNS resolver that keeps only the addresses a [`Policy`] allows.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.check_ip(a.ip()).is_ok())
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves to no address webhooks may reach (internal networks are refused)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &Policy, ip: &str) -> bool {
        p.check_ip(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        let p = Policy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused(&p, ip), "{ip} passed");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "100.128.0.1",
            "64:ff9b::5db8:d822",
        ] {
            assert!(!refused(&p, ip), "{ip} refused");
        }
    }

    #[test]
    fn allowed_networks_pass_and_nothing_else_does() {
        let p = Policy::new(&["127.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "::1"));
        assert!(!refused(&p, "::ffff:127.0.0.2"));
        assert!(refused(&p, "10.0.0.1"));
        assert!(refused(&p, "169.254.169.254"));
        assert!(Policy::new(&["not a net".into()]).is_err());
    }

    #[tokio::test]
    async fn urls_are_checked_by_scheme_literal_and_resolved_address() {
        let p = Policy::default();
        for url in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "not a url",
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost/hook",
            "http://2130706433/hook",
        ] {
            assert!(p.check_url(url).await.is_err(), "{url} passed");
        }
        let allowed = Policy::new(&["127.0.0.0/8".into(), "::1/128".into()]).unwrap();
        assert_eq!(allowed.check_url("http://localhost:9/hook").await, Ok(()));
        assert_eq!(allowed.check_url("http://127.0.0.1:9/hook").await, Ok(()));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_and_fails_when_none_is_left() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = || reqwest::dns::Name::from_str("localhost").unwrap();
        let refused = Policy::default().resolver().resolve(name()).await;
        assert!(refused.is_err());
        let allowed = Policy::new(&["127.0.0.0/8".into(), "::1/128".into()]).unwrap();
        let addrs: Vec<SocketAddr> = allowed.resolver().resolve(name()).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
