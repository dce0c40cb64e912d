//! Server-side request forgery guard: a pod spec can name any host as its
//! registry, so addresses that reach the node itself, the link-local network or
//! a cloud metadata service are refused unless the operator allows the host.
//! The check runs on literal IPs before any request and inside DNS resolution
//! (so a name that resolves to a refused address is refused before connecting).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Refuse loopback, link-local, unspecified, multicast and metadata addresses.
    pub refuse_local: bool,
    /// Also refuse private ranges (RFC 1918, CGNAT, IPv6 ULA).
    pub refuse_private: bool,
    /// Hosts (`host` or `host:port`, as written in image references) exempt from the refusal.
    pub allowed_hosts: HashSet<String>,
}

impl AddressPolicy {
    pub fn permissive() -> Self {
        AddressPolicy::default()
    }

    pub fn is_active(&self) -> bool {
        self.refuse_local || self.refuse_private
    }

    /// Whether `registry` (`host[:port]`, or a bare host name as DNS
    /// resolution sees it) is exempt. An entry `host:port` exempts the host:
    /// name resolution happens before ports matter.
    pub fn host_allowed(&self, registry: &str) -> bool {
        if self.allowed_hosts.contains(registry) {
            return true;
        }
        let host = host_of(registry);
        if host != registry {
            // With a port: only an exact entry or a bare-host entry allows it.
            return self.allowed_hosts.contains(host);
        }
        self.allowed_hosts.iter().any(|a| host_of(a) == host)
    }

    /// Why `ip` is refused, if it is.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if self.refuse_local
            && let Some(reason) = local_reason(ip)
        {
            return Some(reason);
        }
        if self.refuse_private && is_private(ip) {
            return Some("a private network address");
        }
        None
    }

    /// The check for a registry name before any connection: literal IPs and
    /// `localhost` are judged here, other names during DNS resolution.
    pub fn check_registry(&self, registry: &str) -> Result<(), String> {
        if !self.is_active() || self.host_allowed(registry) {
            return Ok(());
        }
        let host = host_of(registry);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if let Some(reason) = self.refusal(ip) {
                return Err(format!(
                    "{ip} is {reason}; allow the registry explicitly to use it"
                ));
            }
        } else if self.refuse_local
            && (bare.eq_ignore_ascii_case("localhost")
                || bare.to_ascii_lowercase().ends_with(".localhost"))
        {
            return Err(
                "localhost is the node itself; allow the registry explicitly to use it".into(),
            );
        } else if self.refuse_local && bare.eq_ignore_ascii_case("metadata.google.internal") {
            return Err("it names a cloud metadata service".into());
        }
        Ok(())
    }
}

/// `host:port` → `host`, IPv6 brackets kept.
pub fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        // An unclosed bracket (a mistyped --allow-registry) is kept whole.
        return registry.find(']').map_or(registry, |end| &registry[..=end]);
    }
    match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => registry,
    }
}

fn local_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            if v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200) {
                Some("a cloud metadata address")
            } else if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 0
            {
                Some("not a unicast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                Some("a cloud metadata address")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if (seg[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a unicast address")
            } else {
                None
            }
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Marks a refusal in an error chain (reqwest wraps resolver errors).
pub const REFUSED: &str = "refused as a registry address";

/// A DNS resolver for reqwest that drops refused addresses, so that a
/// registry name pointing at the metadata service is never connected to.
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.host_allowed(&host) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refused = None;
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.refusal(a.ip()) {
                    Some(reason) => {
                        refused = Some((a.ip(), reason));
                        false
                    }
                    None => true,
                })
                .collect();
            if kept.is_empty() {
                let detail = match refused {
                    Some((ip, reason)) => format!("{host} resolves to {ip}, {reason}: {REFUSED}"),
                    None => format!("{host} has no addresses"),
                };
                return Err(detail.into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> AddressPolicy {
        AddressPolicy {
            refuse_local: true,
            refuse_private: false,
            allowed_hosts: ["127.0.0.1:5000".to_owned()].into_iter().collect(),
        }
    }

    #[test]
    fn refuses_local_and_metadata_literals() {
        let p = strict();
        for bad in [
            "127.0.0.1:5001",
            "127.1.2.3",
            "169.254.169.254",
            "[::1]:5000",
            "[fe80::1]",
            "0.0.0.0:80",
            "localhost:5000",
            "metadata.google.internal",
            "[::ffff:127.0.0.1]:5000",
            "100.100.100.200",
        ] {
            assert!(p.check_registry(bad).is_err(), "{bad} accepted");
        }
        let named = AddressPolicy {
            allowed_hosts: ["localhost:5999".to_owned()].into_iter().collect(),
            ..strict()
        };
        assert!(
            named.host_allowed("localhost"),
            "DNS sees the name without its port"
        );
        assert!(!named.host_allowed("other"));
        for ok in ["127.0.0.1:5000", "ghcr.io", "10.0.0.5:5000", "docker.io"] {
            assert!(p.check_registry(ok).is_ok(), "{ok} refused");
        }
        assert!(
            AddressPolicy::permissive()
                .check_registry("127.0.0.1")
                .is_ok()
        );
    }

    #[test]
    fn private_ranges_are_optional() {
        let p = AddressPolicy {
            refuse_private: true,
            ..strict()
        };
        assert!(p.check_registry("10.1.2.3").is_err());
        assert!(p.check_registry("192.168.1.1:443").is_err());
        assert!(p.check_registry("[fd12::1]").is_err());
        assert!(p.check_registry("8.8.8.8").is_ok());
    }

    #[test]
    fn host_of_strips_ports() {
        assert_eq!(host_of("a.b:5000"), "a.b");
        assert_eq!(host_of("[::1]:5000"), "[::1]");
        assert_eq!(host_of("a.b"), "a.b");
    }
}
