//! The address a request comes from, as login throttles and connection caps count it: the TCP
//! peer, or, when the peer is a proxy the operator named with `--trusted-proxies`, the nearest
//! address in `X-Forwarded-For` that is not one of those proxies. Anything a client writes in
//! the header itself is ignored unless it arrives through a trusted proxy, and even then only
//! the hops the trusted proxies appended count: a client cannot choose its own address.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;

/// A network of proxies, `10.0.0.0/8`, `fd00::/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` of `width` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let host_bits = width - u32::from(prefix);
    host_bits >= width || (a >> host_bits) == (b >> host_bits)
}

/// What per-address limits count a client by: its IPv4 address, or the /64 network of its IPv6
/// address. A single home or phone is routinely given a whole /64 and may pick any address in
/// it, so counting IPv6 addresses one by one would let one client slip past every per-address
/// throttle and cap by changing its address.
pub fn counted(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// An IPv4 address a dual-stack socket reports as `::ffff:a.b.c.d` is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("`{s}` is not an IP address or network"))?,
        );
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0–{width}"))?,
            None => width,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` the server believes.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<ProxyNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address, given the TCP peer and the `X-Forwarded-For` values in order.
    /// Walking from the peer back towards the client, each trusted proxy vouches for the hop
    /// before it; the first hop nobody trusts is the client. A hop that is not an address (a
    /// proxy would never write one) stops the walk at the last proxy that spoke.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The address `req` comes from; None only for a request without a peer (never over TCP).
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        Some(self.client(peer, forwarded))
    }

    /// What per-address limits count `req` by ([`counted`] of its address).
    pub fn counted_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.of(req).map(counted)
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies(nets.iter().filter_map(|n| n.parse().ok()).collect())
    }

    #[test]
    fn networks_parse_and_match() {
        let net: ProxyNet = "10.1.0.0/16".parse().unwrap_or(ProxyNet {
            addr: ip("0.0.0.0"),
            prefix: 32,
        });
        assert!(net.contains(ip("10.1.200.3")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "an IPv4-mapped peer");
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("fd00::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<ProxyNet>()
                .is_ok_and(|n| n.contains(ip("8.8.8.8")))
        );
        assert!(
            "fd00::/8"
                .parse::<ProxyNet>()
                .is_ok_and(|n| n.contains(ip("fd12::1")))
        );
        assert!(
            "127.0.0.1"
                .parse::<ProxyNet>()
                .is_ok_and(|n| !n.contains(ip("127.0.0.2")))
        );
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
        assert!("proxy.local".parse::<ProxyNet>().is_err());
    }

    #[test]
    fn the_header_counts_only_through_a_trusted_proxy() {
        let none = proxies(&[]);
        assert_eq!(
            none.client(ip("198.51.100.7"), ["1.2.3.4"].into_iter()),
            ip("198.51.100.7")
        );
        let lb = proxies(&["10.0.0.0/8"]);
        // A client talking to the server directly cannot pick its address.
        assert_eq!(
            lb.client(ip("198.51.100.7"), ["1.2.3.4"].into_iter()),
            ip("198.51.100.7")
        );
        // Through the proxy: the hop it appended, not what the client wrote before it.
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["1.2.3.4, 203.0.113.9"].into_iter()),
            ip("203.0.113.9")
        );
        // Chained proxies, and several header lines.
        assert_eq!(
            lb.client(
                ip("10.0.0.2"),
                ["1.2.3.4", "203.0.113.9:5555, 10.0.0.3"].into_iter()
            ),
            ip("203.0.113.9")
        );
        // A proxy with no header, or garbage where an address should be: the last proxy.
        assert_eq!(
            lb.client(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
        assert_eq!(
            lb.client(ip("10.0.0.2"), ["1.2.3.4, unknown"].into_iter()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn limits_count_an_ipv6_client_by_its_64_and_ipv4_by_its_address() {
        assert_eq!(counted(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            counted(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            counted(ip("2001:db8:1:2::99"))
        );
        assert_ne!(
            counted(ip("2001:db8:1:2::1")),
            counted(ip("2001:db8:1:3::1"))
        );
        assert_eq!(counted(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_ne!(counted(ip("203.0.113.7")), counted(ip("203.0.113.8")));
        assert_eq!(counted(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
