//! Upstreams found through DNS (hickory). An upstream URL whose host is a name, not an address,
//! is resolved by SRV first: `_moqt._udp.<name>` lists the relays of a tier, tried in priority
//! order (lowest first) and, within one priority, in a weighted random order (RFC 2782); each
//! target's A/AAAA records give its addresses. Without SRV records the name's own A/AAAA
//! records are used with the URL's port. An answer is kept until its TTL runs out (bounded to
//! [`MIN_TTL`]..[`MAX_TTL`]); the link resolves again then, and on each reconnection.
//!
//! The candidates keep the target's name in their URL: TLS checks the certificate against it,
//! while the connection goes to the address DNS gave.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::time::Instant;

/// An answer is used for at least this long, whatever its TTL.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// And at most this long.
pub const MAX_TTL: Duration = Duration::from_secs(300);
/// Targets taken from one SRV answer.
const MAX_TARGETS: usize = 32;
/// Port of a URL that names none.
const DEFAULT_PORT: u16 = 443;

/// Why an upstream name gave no address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The URL cannot be used.
    #[error("upstream {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// DNS gave no usable answer.
    #[error("upstream {name}: no address in DNS ({reason})")]
    NotFound {
        /// The name asked for.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// The resolver could not be set up.
    #[error("DNS resolver: {0}")]
    Resolver(String),
}

/// One place to connect to: the URL (its host names the server for TLS) and the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `moqt://target:port` or `https://target:port/path`.
    pub url: String,
    /// Where to send the packets.
    pub addr: SocketAddr,
}

/// Candidates in the order to try them, and until when they hold.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Best first.
    pub candidates: Vec<Candidate>,
    /// When to ask DNS again (never, for a URL that names an address).
    pub valid_until: Option<Instant>,
}

/// One SRV target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    /// Lower is tried first.
    pub priority: u16,
    /// Share of the picks within a priority.
    pub weight: u16,
    /// The target's port.
    pub port: u16,
    /// The target's name.
    pub target: String,
}

/// RFC 2782 order: ascending priority; within a priority, targets are picked at random with
/// probability proportional to their weight (zero-weight ones get a small chance), without
/// replacement. `random(n)` returns a number in `0..n`.
pub fn srv_order(
    mut targets: Vec<SrvTarget>,
    mut random: impl FnMut(u64) -> u64,
) -> Vec<SrvTarget> {
    targets.sort_by_key(|t| t.priority);
    let mut out = Vec::with_capacity(targets.len());
    let mut rest = targets.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|t| t.priority == first.priority)
            .count();
        let mut group: Vec<SrvTarget> = rest[..same].to_vec();
        rest = &rest[same..];
        // Zero-weight targets first, as RFC 2782 asks, so that their +1 share is fair.
        group.sort_by_key(|t| t.weight != 0);
        while !group.is_empty() {
            let total: u64 = group.iter().map(|t| u64::from(t.weight) + 1).sum();
            let mut pick = random(total);
            let i = group
                .iter()
                .position(|t| {
                    let w = u64::from(t.weight) + 1;
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .unwrap_or(0);
            out.push(group.remove(i));
        }
    }
    out
}

/// Resolves upstream URLs.
pub struct Discovery {
    resolver: TokioResolver,
    /// State of the weighted draws; every lookup advances it, so each one draws afresh (RFC
    /// 2782) and relays started apart draw differently.
    seed: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

impl Discovery {
    /// Ask `servers` (UDP; empty: the system's resolver configuration).
    pub fn new(servers: &[SocketAddr]) -> Result<Self, DiscoveryError> {
        let provider = TokioRuntimeProvider::default();
        let builder = if servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| DiscoveryError::Resolver(e.to_string()))?
        } else {
            let mut config = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
            for s in servers {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                config.add_name_server(NameServerConfig::new(s.ip(), true, vec![udp]));
            }
            TokioResolver::builder_with_config(config, provider)
        };
        let resolver = builder
            .build()
            .map_err(|e| DiscoveryError::Resolver(e.to_string()))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Ok(Self {
            resolver,
            seed: std::sync::atomic::AtomicU64::new(seed),
        })
    }

    /// Where `url` leads, best first.
    pub async fn resolve(&self, url: &str) -> Result<Resolved, DiscoveryError> {
        let bad = |reason: &str| DiscoveryError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let port = parsed.port().unwrap_or(DEFAULT_PORT);
        let Some(host) = parsed.host() else {
            return Err(bad("no host"));
        };
        if let Some(ip) = literal_ip(&host) {
            return Ok(fixed(url, SocketAddr::new(ip, port)));
        }
        let name = host.to_string().trim_end_matches('.').to_owned();
        let not_found = |reason: String| DiscoveryError::NotFound {
            name: name.clone(),
            reason,
        };
        let now = Instant::now();
        let (targets, srv_ttl) = self.srv(&name).await;
        let mut candidates = Vec::new();
        let mut ttls: Vec<Duration> = srv_ttl.into_iter().collect();
        let mut last_error = String::from("no SRV, A or AAAA records");
        let targets = if targets.is_empty() {
            vec![SrvTarget {
                priority: 0,
                weight: 0,
                port,
                target: name.clone(),
            }]
        } else {
            targets
        };
        for t in targets {
            match self.addresses(&t.target).await {
                Ok((ips, ip_ttl)) => {
                    ttls.push(ip_ttl);
                    candidates.extend(target_candidates(&parsed, &t, ips));
                }
                Err(e) => last_error = format!("{}: {e}", t.target),
            }
        }
        if candidates.is_empty() {
            return Err(not_found(last_error));
        }
        Ok(Resolved {
            candidates,
            valid_until: Some(now + hold_time(ttls)),
        })
    }

    /// `_moqt._udp.<name>`'s targets in the order to try, and the answer's TTL.
    async fn srv(&self, name: &str) -> (Vec<SrvTarget>, Option<Duration>) {
        let Ok(lookup) = self
            .resolver
            .lookup(format!("_moqt._udp.{name}."), RecordType::SRV)
            .await
        else {
            return (Vec::new(), None);
        };
        let (targets, ttl) = srv_targets(lookup.answers());
        let mut state = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed)
            | 1;
        let ordered = srv_order(targets, |n| {
            // xorshift64*: the order only spreads load; it need not be unpredictable.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
        });
        (ordered, ttl)
    }

    /// A/AAAA of `name` and the shortest TTL.
    async fn addresses(&self, name: &str) -> Result<(Vec<IpAddr>, Duration), String> {
        let lookup = self
            .resolver
            .lookup_ip(format!("{name}."))
            .await
            .map_err(|e| e.to_string())?;
        let ttl = lookup
            .valid_until()
            .saturating_duration_since(std::time::Instant::now());
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err("no A or AAAA records".into());
        }
        Ok((ips, ttl))
    }
}

/// The SRV targets among `answers` (peer input: only the first `MAX_TARGETS` records are read,
/// in the order DNS gave them) and their shortest TTL (`None` without an SRV record). A target
/// of "." (RFC 2782: the service is decidedly not available there) and a name that is not a
/// valid host for a URL are left out; their TTL still counts.
pub fn srv_targets(answers: &[Record]) -> (Vec<SrvTarget>, Option<Duration>) {
    let mut ttl = None::<Duration>;
    let mut targets = Vec::new();
    for r in answers.iter().take(MAX_TARGETS) {
        if let RData::SRV(srv) = &r.data {
            let t = Duration::from_secs(u64::from(r.ttl));
            ttl = Some(ttl.map_or(t, |x| x.min(t)));
            let target = srv.target.to_string().trim_end_matches('.').to_owned();
            if target.is_empty() || url::Host::parse(&target).is_err() {
                tracing::debug!(target = %srv.target, "SRV target left out: not a host name");
                continue;
            }
            targets.push(SrvTarget {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target,
            });
        }
    }
    (targets, ttl)
}

/// The candidates that `target`'s addresses give, IPv4 first: `url` with the target's name (for
/// TLS) and port, and each address.
pub fn target_candidates(
    url: &url::Url,
    target: &SrvTarget,
    mut ips: Vec<IpAddr>,
) -> Vec<Candidate> {
    ips.sort_by_key(|ip| ip.is_ipv6());
    let mut u = url.clone();
    // A URL that already had a host and a port takes any valid host name and port; a target
    // that is not one gives no candidate (never the configured name at the target's address).
    if u.set_host(Some(&target.target)).is_err() || u.set_port(Some(target.port)).is_err() {
        return Vec::new();
    }
    ips.into_iter()
        .map(|ip| Candidate {
            url: u.to_string(),
            addr: SocketAddr::new(ip, target.port),
        })
        .collect()
}

/// How long an answer holds: the shortest of its TTLs ([`MAX_TTL`] without one), bounded to
/// [`MIN_TTL`]..=[`MAX_TTL`].
pub fn hold_time(ttls: impl IntoIterator<Item = Duration>) -> Duration {
    ttls.into_iter()
        .fold(MAX_TTL, Duration::min)
        .clamp(MIN_TTL, MAX_TTL)
}

/// The host of a URL as an address, if it is one: `moqt://` URLs keep their host as text (the
/// scheme is not one the URL standard knows), so `127.0.0.1` arrives as a "domain".
fn literal_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(d) => d.trim_start_matches('[').trim_end_matches(']').parse().ok(),
    }
}

/// Whether `url` names its host (DNS has a say) rather than giving an address.
pub fn names_a_host(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .and_then(|p| p.host().map(|h| literal_ip(&h).is_none()))
        .unwrap_or(false)
}

fn fixed(url: &str, addr: SocketAddr) -> Resolved {
    Resolved {
        candidates: vec![Candidate {
            url: url.to_owned(),
            addr,
        }],
        valid_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(priority: u16, weight: u16, target: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 4443,
            target: target.to_owned(),
        }
    }

    #[test]
    fn addresses_are_not_names() {
        assert!(!names_a_host("moqt://127.0.0.1:4443"));
        assert!(!names_a_host("moqt://[::1]:4443"));
        assert!(!names_a_host("https://10.0.0.1:4443/x"));
        assert!(names_a_host("moqt://root.tree.test"));
        assert!(names_a_host("https://relay.example:443"));
    }

    #[test]
    fn candidates_ipv4_first_and_ttl_bounded() {
        let url = url::Url::parse("moqt://tier.example:4443").unwrap();
        let ips = vec!["::1".parse().unwrap(), "192.0.2.1".parse().unwrap()];
        let c = target_candidates(&url, &t(0, 0, "a.tier.example"), ips);
        assert_eq!(c[0].addr, "192.0.2.1:4443".parse().unwrap());
        assert_eq!(c[1].addr, "[::1]:4443".parse().unwrap());
        assert_eq!(c[0].url, "moqt://a.tier.example:4443");
        assert_eq!(hold_time([]), MAX_TTL);
        assert_eq!(hold_time([Duration::ZERO, MAX_TTL]), MIN_TTL);
        assert_eq!(
            hold_time([Duration::from_secs(30)]),
            Duration::from_secs(30)
        );
        assert_eq!(hold_time([Duration::from_secs(86_400)]), MAX_TTL);
    }

    #[test]
    fn a_root_or_unusable_srv_target_gives_no_candidate() {
        use hickory_resolver::proto::rr::rdata::SRV;
        use hickory_resolver::proto::rr::{Name, Record};
        use std::str::FromStr;
        let srv = |target: &str| {
            Record::from_rdata(
                Name::from_str("_moqt._udp.tier.example.").unwrap(),
                30,
                RData::SRV(SRV::new(0, 0, 4443, Name::from_str(target).unwrap())),
            )
        };
        // RFC 2782: "." says the service is not available; it is not a host named "".
        let (targets, ttl) = srv_targets(&[srv("."), srv("a.tier.example.")]);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].target, "a.tier.example");
        assert_eq!(ttl, Some(Duration::from_secs(30)));
        let url = url::Url::parse("moqt://tier.example:4443").unwrap();
        let ip = vec!["192.0.2.1".parse().unwrap()];
        assert!(target_candidates(&url, &t(0, 0, ""), ip).is_empty());
    }

    #[test]
    fn priorities_first_then_weights() {
        let targets = vec![t(20, 0, "c"), t(10, 90, "a"), t(10, 10, "b"), t(30, 5, "d")];
        // Always the first pick: within priority 10, the listed order (no zero weight there).
        let order = srv_order(targets.clone(), |_| 0);
        let names: Vec<&str> = order.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        // Over many draws, `a` (weight 90) leads priority 10 about 91 times in 102.
        let mut state = 7u64;
        let mut a_first = 0;
        for _ in 0..1000 {
            let order = srv_order(targets.clone(), |n| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % n
            });
            assert_eq!(order[2].target, "c");
            assert_eq!(order[3].target, "d");
            if order[0].target == "a" {
                a_first += 1;
            }
        }
        assert!((850..970).contains(&a_first), "{a_first}");
    }
}
