//! Slowing down sign-in guessing: attempts are counted per client address and per access key
//! in the store (so every replica agrees), and after a few of them each attempt locks both out
//! for a while that doubles every time, whatever the next attempt carries.
//!
//! The client address is the connection's peer. Behind a reverse proxy every request comes
//! from the proxy, so with `trust_forwarded_for` the last address of `X-Forwarded-For` (the one
//! the proxy appended) is used instead; without it the header is ignored, since any client can
//! send one.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use kiln_store::SignInBackoff;

use crate::state::AppState;

/// Five attempts are free; then 1 s, 2 s, 4 s … up to 15 min between attempts; an hour
/// without attempts starts afresh.
pub const BACKOFF: SignInBackoff = SignInBackoff {
    free_attempts: 5,
    first_lockout: 1.0,
    max_lockout: 900.0,
    forget_after: 3600.0,
};

/// Longest access key id counted as typed (no real one is longer).
const MAX_KEY_ID_CHARS: usize = 128;

/// Where a request comes from, as far as Kiln can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl ClientAddress {
    /// The peer address, or with `trust_forwarded_for` the last `X-Forwarded-For` address.
    pub fn of(peer: Option<SocketAddr>, headers: &HeaderMap, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| last_forwarded_for(headers))
            .flatten();
        ClientAddress(forwarded.or(peer.map(|p| p.ip())).map(canonical))
    }

    /// The throttle subject of this address: IPv6 clients by /64, as one host usually has a
    /// whole /64 to pick addresses from.
    fn subject(self) -> String {
        match self.0 {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("address:{prefix}/64")
            }
            Some(IpAddr::V4(v4)) => format!("address:{v4}"),
            None => "address:unknown".to_string(),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientAddress::of(
            peer,
            &parts.headers,
            state.console.trust_forwarded_for,
        ))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The last address of the last `X-Forwarded-For` header, if it is one.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let header = headers.get_all("x-forwarded-for").iter().next_back()?;
    header
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The access key id as counted and logged: trimmed to a length no real key id exceeds.
pub fn key_id_for_log(key_id: &str) -> String {
    key_id.chars().take(MAX_KEY_ID_CHARS).collect()
}

/// What an attempt is counted against: the client's address and the access key it names.
pub fn subjects(client: ClientAddress, key_id: &str) -> Vec<String> {
    vec![client.subject(), format!("key:{}", key_id_for_log(key_id))]
}

/// Whole seconds until `until`, at least 1, for `Retry-After` and the page. Times are
/// milliseconds apart at best, so that is the precision rounded up from.
pub fn retry_after_seconds(until: f64, now: f64) -> u64 {
    let millis = ((until - now) * 1000.0).round().max(1.0) as u64;
    millis.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 9], 4000)));
        let headers = forwarded(&["1.1.1.1", "203.0.113.7, 198.51.100.2"]);
        assert_eq!(
            ClientAddress::of(peer, &headers, false).to_string(),
            "10.0.0.9"
        );
        assert_eq!(
            ClientAddress::of(peer, &headers, true).to_string(),
            "198.51.100.2"
        );
        let junk = forwarded(&["203.0.113.7, not-an-address"]);
        assert_eq!(ClientAddress::of(peer, &junk, true).to_string(), "10.0.0.9");
        assert_eq!(
            ClientAddress::of(None, &HeaderMap::new(), true).to_string(),
            "unknown"
        );
    }

    #[test]
    fn subjects_group_ipv6_by_prefix() {
        let v6 = |s: &str| ClientAddress(Some(s.parse().unwrap()));
        assert_eq!(
            subjects(v6("2001:db8:1:2:aaaa::1"), "AKID")[0],
            "address:2001:db8:1:2::/64"
        );
        assert_eq!(
            subjects(v6("2001:db8:1:2:bbbb::2"), "AKID")[0],
            "address:2001:db8:1:2::/64"
        );
        let mapped = ClientAddress::of(
            Some("[::ffff:192.0.2.1]:1".parse().unwrap()),
            &HeaderMap::new(),
            false,
        );
        assert_eq!(subjects(mapped, "AKID")[0], "address:192.0.2.1");
        let long = "K".repeat(500);
        assert_eq!(
            subjects(ClientAddress(None), &long)[1].len(),
            "key:".len() + MAX_KEY_ID_CHARS
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(10.2, 10.0), 1);
        assert_eq!(retry_after_seconds(12.5, 10.0), 3);
        assert_eq!(retry_after_seconds(9.0, 10.0), 1);
        let now = 1_700_000_000.123;
        assert_eq!(retry_after_seconds(now + 4.0, now), 4);
    }
}
