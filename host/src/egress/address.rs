//! Which destination addresses a component may never reach unless the
//! operator allows them explicitly (`allow_cidrs`).
//!
//! Checked on every address a host name resolves to (and on IP literals,
//! before any connection attempt), so a name that resolves to an internal
//! address — the DNS-rebinding shape — is refused like the literal would be.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is forbidden: the range it falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT.
    SharedCgnat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `169.254.169.254`, `fd00:ec2::254`: cloud instance metadata.
    Metadata,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`.
    Documentation,
    /// `fc00::/7` (and the deprecated site-local `fec0::/10`).
    UniqueLocal,
    /// Other special-purpose ranges: `240/4`, `192.0.0/24`, `198.18/15`,
    /// `100::/64`.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedCgnat => "shared (carrier-grade nat)",
            Self::LinkLocal => "link-local",
            Self::Metadata => "link-local (cloud metadata)",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::UniqueLocal => "unique local (private)",
            Self::Reserved => "reserved",
        })
    }
}

/// The forbidden range `ip` falls in, or `None` for an ordinary public
/// address. IPv6 forms that embed an IPv4 address (mapped `::ffff:a.b.c.d`,
/// translated `::ffff:0:a.b.c.d`, compatible `::a.b.c.d`, NAT64
/// `64:ff9b::/96` and the local-use NAT64 `64:ff9b:1::/48`, 6to4
/// `2002::/16`) are judged by that IPv4 address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => AddressClass::Metadata,
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, b, _) if (16..32).contains(&b) => AddressClass::Private,
        (100, b, _) if (64..128).contains(&b) => AddressClass::SharedCgnat,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) | (192, 0, 0) => AddressClass::Reserved,
        (198, 18 | 19, _) => AddressClass::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    Some(match segments {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_loopback() => AddressClass::Loopback,
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => AddressClass::Metadata,
        [s, ..] if s & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [s, ..] if s & 0xfe00 == 0xfc00 => AddressClass::UniqueLocal,
        [s, ..] if s & 0xffc0 == 0xfec0 => AddressClass::UniqueLocal,
        [s, ..] if s & 0xff00 == 0xff00 => AddressClass::Multicast,
        [0x2001, 0x0db8, ..] => AddressClass::Documentation,
        [0x0100, 0, 0, 0, ..] => AddressClass::Reserved,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that embed one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(low(hi, lo)),
        // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765 SIIT)
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(low(hi, lo)),
        // ::a.b.c.d (compatible, deprecated); not :: or ::1 themselves
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low(hi, lo)),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        // 64:ff9b:1::/48 (local-use NAT64, RFC 8215): the translator
        // serves some /96 inside it, the IPv4 address in the last 32 bits
        [0x64, 0xff9b, 1, _, _, _, hi, lo] => Some(low(hi, lo)),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// Whether an operator CIDR covers `ip`, also trying the IPv4 address an
/// IPv6 form embeds (so `127.0.0.1/32` covers `::ffff:127.0.0.1`).
pub fn allowed_by(cidrs: &[IpNet], ip: IpAddr) -> bool {
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    cidrs
        .iter()
        .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<AddressClass> {
        classify(text.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        use AddressClass::*;
        for (ip, expected) in [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.0.0.5", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.254", SharedCgnat),
            ("169.254.169.254", Metadata),
            ("169.254.1.1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.10", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.1", Documentation),
            ("240.0.0.1", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.8", Reserved),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_is_fine() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "1.1.1.1",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("fd00:ec2::254", Metadata),
            ("100::1", Reserved),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        assert_eq!(class("2606:4700::1111"), None);
        assert_eq!(class("2001:4860:4860::8888"), None);
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_as_ipv4() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.5", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("::10.0.0.5", Private),
            ("::127.0.0.1", Loopback),
            ("::2", Unspecified),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("2002:c0a8:0101::1", Private),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        assert_eq!(class("::ffff:8.8.8.8"), None);
    }

    #[test]
    fn translated_and_local_nat64_forms_are_judged_as_ipv4() {
        use AddressClass::*;
        for (ip, expected) in [
            // ::ffff:0:a.b.c.d, IPv4-translated
            ("::ffff:0:127.0.0.1", Loopback),
            ("::ffff:0:10.0.0.5", Private),
            ("::ffff:0:169.254.169.254", Metadata),
            ("::ffff:0:0.0.0.0", Unspecified),
            // 64:ff9b:1::/48, local-use NAT64
            ("64:ff9b:1::a00:5", Private),
            ("64:ff9b:1::7f00:1", Loopback),
            ("64:ff9b:1::a9fe:a9fe", Metadata),
            ("64:ff9b:1:abcd::c0a8:101", Private),
            ("64:ff9b:1:ffff:ffff:ffff:6440:1", SharedCgnat),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
        assert_eq!(class("::ffff:0:8.8.8.8"), None);
        assert_eq!(class("64:ff9b:1::808:808"), None);
        // An operator CIDR for the IPv4 range covers both forms.
        let cidrs: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(allowed_by(&cidrs, "::ffff:0:10.0.0.5".parse().unwrap()));
        assert!(allowed_by(&cidrs, "64:ff9b:1::a00:5".parse().unwrap()));
    }

    #[test]
    fn operator_cidrs_cover_mapped_forms() {
        let cidrs: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        assert!(allowed_by(&cidrs, "127.0.0.1".parse().unwrap()));
        assert!(allowed_by(&cidrs, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!allowed_by(&cidrs, "127.0.0.2".parse().unwrap()));
        assert!(!allowed_by(&cidrs, "::1".parse().unwrap()));
    }
}
