//! Who owns a cache key: the live members, smoothed by [`Hysteresis`] so one missed or early
//! heartbeat does not move keys around, fed through Pingora's `ServiceDiscovery` seam into its
//! Ketama consistent hash (nginx-compatible), so adding or losing one edge moves only that
//! edge's share of the keys.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::selection::consistent::KetamaHashing;
use pingora::lb::{Backend, Backends, LoadBalancer};

/// How far the Ketama walk looks for an acceptable member (each member appears many times).
const MAX_WALK: usize = 256;

/// Turns raw member-list reads into a stable member set: a member joins after appearing in
/// `join_after` consecutive reads and leaves after missing from `leave_after` consecutive
/// reads. Pure, so the rule is tested without Redis.
#[derive(Debug)]
pub struct Hysteresis {
    join_after: u32,
    leave_after: u32,
    members: HashMap<String, Tracked>,
}

#[derive(Debug)]
struct Tracked {
    addr: SocketAddr,
    present: u32,
    absent: u32,
    in_ring: bool,
}

impl Hysteresis {
    /// A rule with the given thresholds (each at least 1).
    pub fn new(join_after: u32, leave_after: u32) -> Hysteresis {
        Hysteresis {
            join_after: join_after.max(1),
            leave_after: leave_after.max(1),
            members: HashMap::new(),
        }
    }

    /// Takes one read of the live members (node name → address) and returns the stable set.
    pub fn observe(&mut self, live: &HashMap<String, SocketAddr>) -> BTreeSet<SocketAddr> {
        for (node, addr) in live {
            let t = self.members.entry(node.clone()).or_insert(Tracked {
                addr: *addr,
                present: 0,
                absent: 0,
                in_ring: false,
            });
            if t.addr != *addr {
                // Same name, new address: a restart elsewhere; it earns its place again.
                *t = Tracked {
                    addr: *addr,
                    present: 0,
                    absent: 0,
                    in_ring: false,
                };
            }
            t.present = t.present.saturating_add(1);
            t.absent = 0;
            if t.present >= self.join_after {
                t.in_ring = true;
            }
        }
        for (node, t) in self.members.iter_mut() {
            if !live.contains_key(node) {
                t.absent = t.absent.saturating_add(1);
                t.present = 0;
                if t.absent >= self.leave_after {
                    t.in_ring = false;
                }
            }
        }
        self.members.retain(|_, t| t.in_ring || t.absent == 0);
        self.members
            .values()
            .filter(|t| t.in_ring)
            .map(|t| t.addr)
            .collect()
    }

    /// Forgets every member (Redis is down: the edge stands alone until it can read again).
    pub fn reset(&mut self) {
        self.members.clear();
    }
}

/// The member set as Pingora's service discovery sees it.
struct Members(Arc<RwLock<BTreeSet<Backend>>>);

#[async_trait]
impl ServiceDiscovery for Members {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let set = self.0.read().map(|s| s.clone()).unwrap_or_default();
        Ok((set, HashMap::new()))
    }
}

/// The consistent-hash ring of the fleet. Always contains this edge.
pub struct Ring {
    me: SocketAddr,
    members: Arc<RwLock<BTreeSet<Backend>>>,
    balancer: LoadBalancer<KetamaHashing>,
}

fn backend(addr: SocketAddr) -> Backend {
    Backend {
        addr: pingora::protocols::l4::socket::SocketAddr::Inet(addr),
        weight: 1,
        ext: Default::default(),
    }
}

impl Ring {
    /// A ring holding only `me`.
    pub async fn new(me: SocketAddr) -> Ring {
        let members = Arc::new(RwLock::new(BTreeSet::from([backend(me)])));
        let balancer =
            LoadBalancer::from_backends(Backends::new(Box::new(Members(members.clone()))));
        let ring = Ring {
            me,
            members,
            balancer,
        };
        ring.rebuild().await;
        ring
    }

    async fn rebuild(&self) {
        if let Err(e) = self.balancer.update().await {
            tracing::warn!(error = %e, "rebuilding the hash ring failed");
        }
    }

    /// Replaces the members (this edge is always kept); returns whether the ring changed.
    pub async fn set_members(&self, addrs: &BTreeSet<SocketAddr>) -> bool {
        let mut next: BTreeSet<Backend> = addrs.iter().copied().map(backend).collect();
        next.insert(backend(self.me));
        let changed = match self.members.write() {
            Ok(mut current) if *current != next => {
                *current = next;
                true
            }
            _ => false,
        };
        if changed {
            self.rebuild().await;
        }
        changed
    }

    /// Number of members, this edge included.
    pub fn len(&self) -> usize {
        self.members.read().map_or(1, |s| s.len())
    }

    /// Whether the ring has no member (never once this edge has joined: it counts itself).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `addr` is a member.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.members
            .read()
            .is_ok_and(|s| s.iter().any(|b| b.addr.as_inet() == Some(addr)))
    }

    /// The members' addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.members
            .read()
            .map(|s| s.iter().filter_map(|b| b.addr.as_inet().copied()).collect())
            .unwrap_or_default()
    }

    /// The owner of `key`: the first member on the ring from the key's hash that `usable`
    /// accepts (this edge is always usable). `None` means this edge.
    pub fn owner(&self, key: &[u8], usable: impl Fn(&SocketAddr) -> bool) -> Option<SocketAddr> {
        let me = self.me;
        let chosen = self.balancer.select_with(key, MAX_WALK, |b, _healthy| {
            b.addr.as_inet().is_some_and(|a| *a == me || usable(a))
        })?;
        let addr = *chosen.addr.as_inet()?;
        (addr != me).then_some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(members: &[(&str, u16)]) -> HashMap<String, SocketAddr> {
        members
            .iter()
            .map(|(n, p)| (n.to_string(), SocketAddr::from(([127, 0, 0, 1], *p))))
            .collect()
    }

    fn ports(set: &BTreeSet<SocketAddr>) -> Vec<u16> {
        set.iter().map(|a| a.port()).collect()
    }

    #[test]
    fn members_join_and_leave_only_after_the_threshold() {
        let mut h = Hysteresis::new(2, 2);
        assert!(h.observe(&live(&[("a", 1)])).is_empty());
        assert_eq!(ports(&h.observe(&live(&[("a", 1)]))), [1]);
        // One missed read does not drop it; two do.
        assert_eq!(ports(&h.observe(&live(&[]))), [1]);
        assert_eq!(ports(&h.observe(&live(&[("a", 1)]))), [1]);
        assert_eq!(ports(&h.observe(&live(&[]))), [1]);
        assert!(h.observe(&live(&[])).is_empty());
        // A flapping member never joins.
        for _ in 0..5 {
            assert!(h.observe(&live(&[("b", 2)])).is_empty());
            assert!(h.observe(&live(&[])).is_empty());
        }
    }

    #[test]
    fn a_new_address_under_the_same_name_rejoins_from_scratch() {
        let mut h = Hysteresis::new(2, 1);
        h.observe(&live(&[("a", 1)]));
        assert_eq!(ports(&h.observe(&live(&[("a", 1)]))), [1]);
        assert!(h.observe(&live(&[("a", 9)])).is_empty());
        assert_eq!(ports(&h.observe(&live(&[("a", 9)]))), [9]);
        h.reset();
        assert!(h.observe(&live(&[("a", 9)])).is_empty());
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn owners_spread_agree_across_edges_and_move_little() {
        runtime().block_on(async {
            let addrs: Vec<SocketAddr> = (1..=3)
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect();
            let all: BTreeSet<SocketAddr> = addrs.iter().copied().collect();
            let mut rings = Vec::new();
            for a in &addrs {
                let r = Ring::new(*a).await;
                assert!(r.set_members(&all).await);
                assert!(!r.set_members(&all).await);
                rings.push(r);
            }
            let keys: Vec<String> = (0..3000)
                .map(|i| format!("/v/x/720p/seg-{i}.m4s"))
                .collect();
            let mut counts = HashMap::new();
            for k in &keys {
                // Every edge names the same owner (None = itself).
                let owners: Vec<SocketAddr> = rings
                    .iter()
                    .zip(&addrs)
                    .map(|(r, me)| r.owner(k.as_bytes(), |_| true).unwrap_or(*me))
                    .collect();
                assert!(owners.iter().all(|o| *o == owners[0]), "{k}: {owners:?}");
                *counts.entry(owners[0]).or_insert(0) += 1;
            }
            for a in &addrs {
                let share = counts[a] as f64 / keys.len() as f64;
                assert!((0.2..0.47).contains(&share), "{a}: {share}");
            }
            // Losing member 3 moves only its keys; skipping it as unusable does the same.
            let two: BTreeSet<SocketAddr> = addrs[..2].iter().copied().collect();
            let before: Vec<_> = keys
                .iter()
                .map(|k| rings[0].owner(k.as_bytes(), |_| true).unwrap_or(addrs[0]))
                .collect();
            let skipping: Vec<_> = keys
                .iter()
                .map(|k| {
                    rings[0]
                        .owner(k.as_bytes(), |a| *a != addrs[2])
                        .unwrap_or(addrs[0])
                })
                .collect();
            rings[0].set_members(&two).await;
            assert_eq!(rings[0].len(), 2);
            for (i, k) in keys.iter().enumerate() {
                let after = rings[0].owner(k.as_bytes(), |_| true).unwrap_or(addrs[0]);
                assert_ne!(after, addrs[2]);
                if before[i] != addrs[2] {
                    assert_eq!(after, before[i], "{k} moved without cause");
                }
                assert_eq!(after, skipping[i], "{k}: skipping and removing disagree");
            }
        });
    }
}
