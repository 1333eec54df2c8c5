//! Where webhooks may send. Only public unicast addresses, unless the
//! operator allows private ones (`CASEBOOK_WEBHOOK_ALLOW_PRIVATE`) or lists
//! networks (`CASEBOOK_WEBHOOK_ALLOW_NETWORKS`). Checked when a webhook is
//! saved and again for every address a delivery connects to, so a name that
//! later resolves somewhere private (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::{AppError, AppResult};

/// The longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Which addresses webhooks may reach beyond the public internet.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    /// Loopback, private, link-local and other non-public unicast addresses too.
    pub allow_private: bool,
    /// These networks whatever they are.
    pub allowed_networks: Vec<IpNet>,
}

impl TargetPolicy {
    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.allowed_networks.iter().any(|net| net.contains(&ip)) {
            return true;
        }
        match classify(ip) {
            Reach::Public => true,
            Reach::Private => self.allow_private,
            Reach::Never => false,
        }
    }

    /// A webhook URL as a client gives it: absolute http(s), with a host,
    /// and not an address this policy refuses.
    pub fn parse_url(&self, field: &str, text: &str) -> AppResult<Url> {
        let text = text.trim();
        if text.chars().count() > MAX_URL_CHARS {
            return Err(AppError::bad_input(field, format!("must be at most {MAX_URL_CHARS} characters")));
        }
        let url = Url::parse(text).map_err(|e| AppError::bad_input(field, format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AppError::bad_input(field, "must be an http or https URL"));
        }
        match url.host() {
            None => return Err(AppError::bad_input(field, "must name a host")),
            Some(Host::Ipv4(ip)) => self.check(field, IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check(field, IpAddr::V6(ip))?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// Refuses `ip` with a message that says how to allow it.
    pub fn check(&self, field: &str, ip: IpAddr) -> AppResult<()> {
        if self.permits(ip) {
            return Ok(());
        }
        Err(AppError::bad_input(
            field,
            format!(
                "{ip} is not a public address: webhooks reach loopback, private, link-local and metadata \
                 addresses only when the operator allows them (CASEBOOK_WEBHOOK_ALLOW_PRIVATE or \
                 CASEBOOK_WEBHOOK_ALLOW_NETWORKS)"
            ),
        ))
    }

    /// Resolves a saved URL's host name and refuses it when any address it
    /// has now is refused (the delivery checks again at connect time).
    pub async fn check_resolved(&self, field: &str, url: &Url) -> AppResult<()> {
        let (Some(Host::Domain(name)), Some(port)) = (url.host(), url.port_or_known_default()) else { return Ok(()) };
        let lookup = tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::lookup_host((name, port)));
        // A name that does not resolve now may later: the delivery decides then.
        let Ok(Ok(mut addresses)) = lookup.await else { return Ok(()) };
        // Which addresses a name has inside the network is not the caller's to learn.
        if addresses.any(|address| !self.permits(address.ip())) {
            return Err(AppError::bad_input(
                field,
                format!(
                    "{name} resolves to an address that is not public: webhooks reach loopback, private, \
                     link-local and metadata addresses only when the operator allows them \
                     (CASEBOOK_WEBHOOK_ALLOW_PRIVATE or CASEBOOK_WEBHOOK_ALLOW_NETWORKS)"
                ),
            ));
        }
        Ok(())
    }
}

/// The address an IPv6 form stands for: IPv4-mapped and NAT64 addresses are
/// judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reach {
    /// Routable on the internet.
    Public,
    /// Unicast but not public: loopback, private, link-local (cloud
    /// metadata), shared, reserved for documentation or benchmarks.
    Private,
    /// Not one host: unspecified, multicast, broadcast.
    Never,
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or_else(|_| unreachable!("a constant network"))
}

fn classify(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Reach {
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Reach::Never;
    }
    const NOT_PUBLIC: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
    ];
    if NOT_PUBLIC.iter().any(|n| net(n).contains(&IpAddr::V4(ip))) { Reach::Private } else { Reach::Public }
}

fn classify_v6(ip: Ipv6Addr) -> Reach {
    if ip.is_unspecified() || ip.is_multicast() {
        return Reach::Never;
    }
    // Global unicast is 2000::/3; inside it, ranges that are not one public host.
    const NOT_PUBLIC: &[&str] = &["2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20"];
    let address = IpAddr::V6(ip);
    if net("2000::/3").contains(&address) && !NOT_PUBLIC.iter().any(|n| net(n).contains(&address)) {
        Reach::Public
    } else {
        Reach::Private
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let policy = TargetPolicy::default();
        for public in
            ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
        {
            assert!(policy.permits(ip(public)), "{public} is public");
        }
        for refused in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused} is refused");
        }
    }

    #[test]
    fn the_operator_widens_the_policy() {
        let private = TargetPolicy { allow_private: true, allowed_networks: Vec::new() };
        assert!(private.permits(ip("127.0.0.1")));
        assert!(private.permits(ip("169.254.169.254")));
        assert!(!private.permits(ip("0.0.0.0")), "unspecified is never one host");
        let listed = TargetPolicy { allow_private: false, allowed_networks: vec![net("10.20.0.0/16"), net("::1/128")] };
        assert!(listed.permits(ip("10.20.3.4")));
        assert!(listed.permits(ip("::1")));
        assert!(!listed.permits(ip("10.21.0.1")));
        assert!(!listed.permits(ip("127.0.0.1")));
    }

    #[test]
    fn urls_are_http_with_a_host_that_is_not_refused() {
        let policy = TargetPolicy::default();
        assert!(policy.parse_url("url", "https://hooks.example.com/casebook?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:10.0.0.1]/",
            "file:///etc/passwd",
        ] {
            assert!(policy.parse_url("url", bad).is_err(), "{bad} is refused");
        }
    }
}
