//! Where patchbay may send a request. A partner's address is chosen by whoever registers it, so
//! without rules an admin (or a stolen admin token) could make patchbay call the cloud's metadata
//! service, the host itself or the private network behind it, and read the answers back in error
//! messages. The rules are checked on the address a connection is actually made to: IP literals
//! before the call, names after DNS (in [`GuardedResolver`], so the check and the connection use
//! the same answer and a rebinding name gains nothing). Redirects are never followed.
//!
//! By default only public addresses are called. An installation may allow named ranges
//! (`loopback` for local development and tests, `private` for an on-premises partner,
//! `link-local`, `cgnat`) or CIDRs; cloud metadata addresses and names, the unspecified address,
//! broadcast and multicast are never called. An IPv6 address that carries an IPv4 address
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is judged by the IPv4 address it reaches.

use ipnet::IpNet;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// What kind of address a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// 100.64.0.0/10, shared by carrier-grade NAT (RFC 6598).
    Cgnat,
    Documentation,
    Benchmarking,
    /// Special-purpose or unassigned: protocol assignments, 240/4, Teredo, discard, …
    Reserved,
    Unspecified,
    Broadcast,
    Multicast,
    /// A cloud provider's instance metadata service.
    Metadata,
}

impl AddressKind {
    fn describe(self) -> &'static str {
        match self {
            AddressKind::Public => "a public address",
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private address",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::Cgnat => "a carrier-grade NAT (shared) address",
            AddressKind::Documentation => "a documentation address",
            AddressKind::Benchmarking => "a benchmarking address",
            AddressKind::Reserved => "a reserved address",
            AddressKind::Unspecified => "the unspecified address",
            AddressKind::Broadcast => "the broadcast address",
            AddressKind::Multicast => "a multicast address",
            AddressKind::Metadata => "a cloud metadata address",
        }
    }

    /// The `--allow-outbound` name that allows this kind, if one does.
    fn range_name(self) -> Option<&'static str> {
        Range::ALL.iter().find(|r| r.kind() == self).map(|r| r.name())
    }

    /// Kinds no setting allows.
    fn never(self) -> bool {
        matches!(
            self,
            AddressKind::Metadata
                | AddressKind::Unspecified
                | AddressKind::Broadcast
                | AddressKind::Multicast
        )
    }
}

/// A range an installation may allow by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// 127.0.0.0/8, ::1 and the name `localhost`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (and the deprecated fec0::/10).
    Private,
    /// 169.254/16 and fe80::/10, metadata addresses excepted.
    LinkLocal,
    /// 100.64.0.0/10.
    Cgnat,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::Loopback, Range::Private, Range::LinkLocal, Range::Cgnat];

    pub fn name(self) -> &'static str {
        match self {
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
            Range::Cgnat => "cgnat",
        }
    }

    fn kind(self) -> AddressKind {
        match self {
            Range::Loopback => AddressKind::Loopback,
            Range::Private => AddressKind::Private,
            Range::LinkLocal => AddressKind::LinkLocal,
            Range::Cgnat => AddressKind::Cgnat,
        }
    }
}

/// Metadata services at fixed addresses: AWS (IMDS, ECS task metadata, EKS pod identity, IMDS
/// over IPv6), GCP and Azure (169.254.169.254), Alibaba Cloud, Oracle Cloud.
const METADATA_V4: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
];

/// Names of metadata services, refused before any lookup (some resolve only inside the cloud,
/// where they matter).
const METADATA_NAMES: [&str; 6] = [
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

fn v4_kind(ip: Ipv4Addr) -> AddressKind {
    let [a, b, c, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        AddressKind::Metadata
    } else if a == 0 {
        AddressKind::Unspecified
    } else if ip == Ipv4Addr::BROADCAST {
        AddressKind::Broadcast
    } else if a == 127 {
        AddressKind::Loopback
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        AddressKind::Private
    } else if a == 169 && b == 254 {
        AddressKind::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        AddressKind::Cgnat
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        AddressKind::Documentation
    } else if a == 198 && (b == 18 || b == 19) {
        AddressKind::Benchmarking
    } else if (224..240).contains(&a) {
        AddressKind::Multicast
    } else if a >= 240 || (a, b, c) == (192, 0, 0) || (a, b, c) == (192, 88, 99) {
        AddressKind::Reserved
    } else {
        AddressKind::Public
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one a packet would reach:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and
/// 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last),
        // `::` and `::1` are themselves, not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0x2002, hi, lo, ..] => {
            Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8))
        }
        _ => None,
    }
}

fn v6_kind(ip: Ipv6Addr) -> AddressKind {
    let s = ip.segments();
    if METADATA_V6.contains(&ip) {
        AddressKind::Metadata
    } else if ip.is_unspecified() {
        AddressKind::Unspecified
    } else if ip.is_loopback() {
        AddressKind::Loopback
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        AddressKind::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddressKind::LinkLocal
    } else if s[0] & 0xff00 == 0xff00 {
        AddressKind::Multicast
    } else if (s[0], s[1]) == (0x2001, 0xdb8) || s[0] & 0xfff0 == 0x3ff0 {
        AddressKind::Documentation
    } else if (s[0], s[1], s[2]) == (0x2001, 2, 0) {
        AddressKind::Benchmarking
    } else if s[0] & 0xe000 != 0x2000 || (s[0] == 0x2001 && s[1] < 0x200) || s[0] == 0x5f00 {
        // Outside global unicast (2000::/3, which also leaves out 100::/64 discard and the
        // local-use NAT64 64:ff9b:1::/48), the IETF protocol assignments 2001::/23 (Teredo
        // among them) and SRv6 SIDs.
        AddressKind::Reserved
    } else {
        AddressKind::Public
    }
}

/// The kind of an address, and the address a connection to it reaches (the embedded IPv4
/// address, for IPv6 forms that carry one).
pub fn classify(ip: IpAddr) -> (AddressKind, IpAddr) {
    match ip {
        IpAddr::V4(v4) => (v4_kind(v4), ip),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => (v4_kind(v4), IpAddr::V4(v4)),
            None => (v6_kind(v6), ip),
        },
    }
}

/// Why patchbay will not call a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The address or name refused, as written.
    pub target: String,
    pub kind: AddressKind,
    /// The name whose DNS answer held only refused addresses.
    pub resolved_from: Option<String>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resolved_from {
            Some(name) => write!(
                f,
                "{name} resolves only to addresses patchbay does not call ({} is {})",
                self.target,
                self.kind.describe()
            )?,
            None => write!(f, "{} is {}", self.target, self.kind.describe())?,
        }
        if self.kind.never() {
            write!(f, ", which patchbay never calls")
        } else if let Some(name) = self.kind.range_name() {
            write!(
                f,
                "; patchbay calls such addresses only when its administrator allows them (patchbay serve --allow-outbound {name})"
            )
        } else {
            write!(
                f,
                "; patchbay calls such addresses only when its administrator allows their range (patchbay serve --allow-outbound CIDR)"
            )
        }
    }
}

impl std::error::Error for Refused {}

/// The addresses beyond the public ones an installation allows outbound calls to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    ranges: Vec<Range>,
    cidrs: Vec<IpNet>,
}

impl OutboundPolicy {
    /// Public addresses only: the default.
    pub fn public_only() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    /// Public addresses and these named ranges.
    pub fn allowing(ranges: &[Range]) -> OutboundPolicy {
        OutboundPolicy { ranges: ranges.to_vec(), cidrs: Vec::new() }
    }

    /// Parses `--allow-outbound`: range names and CIDRs, separated by commas (or given as
    /// several items). Metadata is not a range that can be allowed.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<OutboundPolicy, String> {
        let mut policy = OutboundPolicy::default();
        for item in items
            .iter()
            .flat_map(|i| i.as_ref().split(','))
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let lower = item.to_ascii_lowercase();
            if let Some(range) = Range::ALL.iter().find(|r| r.name() == lower) {
                if !policy.ranges.contains(range) {
                    policy.ranges.push(*range);
                }
            } else if lower == "none" {
            } else if lower.contains("metadata") {
                return Err(
                    "cloud metadata addresses cannot be allowed: patchbay never calls them".into(),
                );
            } else if let Ok(net) = item.parse::<IpNet>() {
                policy.cidrs.push(net.trunc());
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                policy.cidrs.push(IpNet::from(ip));
            } else {
                return Err(format!(
                    "'{item}' is neither a range ({}) nor a CIDR such as 10.1.0.0/16",
                    Range::ALL.map(Range::name).join(", ")
                ));
            }
        }
        Ok(policy)
    }

    /// What is allowed beyond public addresses, for logs and errors.
    pub fn describe(&self) -> String {
        let items: Vec<String> = self
            .ranges
            .iter()
            .map(|r| r.name().to_owned())
            .chain(self.cidrs.iter().map(ToString::to_string))
            .collect();
        if items.is_empty() {
            "public addresses only".into()
        } else {
            format!("public addresses and {}", items.join(", "))
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let (kind, reaches) = classify(ip);
        let allowed = match kind {
            AddressKind::Public => true,
            k if k.never() => false,
            k => {
                self.ranges.iter().any(|r| r.kind() == k)
                    || self.cidrs.iter().any(|n| n.contains(&ip) || n.contains(&reaches))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(Refused { target: ip.to_string(), kind, resolved_from: None })
        }
    }

    /// What can be said of a name before resolving it: metadata names are refused, and
    /// `localhost` (with its subdomains, RFC 6761) is loopback. Every other name is decided by
    /// the addresses it resolves to.
    pub fn check_name(&self, name: &str) -> Result<(), Refused> {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let refused = |kind| Refused { target: name.to_owned(), kind, resolved_from: None };
        if METADATA_NAMES.contains(&lower.as_str()) {
            return Err(refused(AddressKind::Metadata));
        }
        if lower == "localhost" || lower.ends_with(".localhost") {
            return self
                .check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|_| refused(AddressKind::Loopback));
        }
        Ok(())
    }

    /// Checks a URL's host: an IP literal fully, a name as far as [`check_name`] can.
    ///
    /// [`check_name`]: OutboundPolicy::check_name
    pub fn check_host(&self, host: url::Host<&str>) -> Result<(), Refused> {
        match host {
            url::Host::Domain(name) => self.check_name(name),
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip)),
        }
    }
}

/// How names become addresses: the system resolver ([`SystemLookup`]), or in tests a table.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        name: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The operating system's resolver (`getaddrinfo`, off the async threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        name: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.map(|a| a.ip()).collect())
        })
    }
}

/// The DNS resolver of partner calls: resolves names and keeps only the addresses the policy
/// allows, so the connection is made to an address that was checked. When none is left the
/// lookup fails with [`Refused`].
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<OutboundPolicy>, lookup: Arc<dyn Lookup>) -> GuardedResolver {
        GuardedResolver { policy, lookup }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            policy.check_name(&name)?;
            let mut refused = None;
            let mut allowed = Vec::new();
            for ip in lookup.lookup(name.clone()).await? {
                match policy.check_ip(ip) {
                    // Port 0: the connector puts the URL's port in.
                    Ok(()) => allowed.push(SocketAddr::new(ip, 0)),
                    Err(r) => {
                        refused.get_or_insert(r);
                    }
                }
            }
            match refused {
                Some(mut r) if allowed.is_empty() => {
                    r.resolved_from = Some(name);
                    Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(url: &str) -> url::Host<String> {
        url::Url::parse(url).unwrap().host().map(|h| h.to_owned()).unwrap()
    }

    fn check(policy: &OutboundPolicy, url: &str) -> Result<(), Refused> {
        match host_of(url) {
            url::Host::Domain(d) => policy.check_name(&d),
            url::Host::Ipv4(ip) => policy.check_ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => policy.check_ip(IpAddr::V6(ip)),
        }
    }

    #[test]
    fn every_address_of_the_issue_is_refused_by_default() {
        let policy = OutboundPolicy::public_only();
        for (url, kind) in [
            ("http://169.254.169.254/latest/meta-data", AddressKind::Metadata),
            ("http://metadata.google.internal/", AddressKind::Metadata),
            ("http://metadata.google.internal./", AddressKind::Metadata),
            ("http://METADATA/", AddressKind::Metadata),
            ("http://[fd00:ec2::254]/", AddressKind::Metadata),
            ("http://[::ffff:169.254.169.254]/", AddressKind::Metadata),
            ("http://0xA9FEA9FE/", AddressKind::Metadata),
            ("http://2852039166/", AddressKind::Metadata),
            ("http://0251.0376.0251.0376/", AddressKind::Metadata),
            ("http://[fe80::1]/", AddressKind::LinkLocal),
            ("http://10.0.0.1/", AddressKind::Private),
            ("http://192.168.1.1/", AddressKind::Private),
            ("http://172.16.0.1/", AddressKind::Private),
            ("http://[fd12::1]/", AddressKind::Private),
            ("http://127.0.0.1:9090/", AddressKind::Loopback),
            ("http://2130706433/", AddressKind::Loopback),
            ("http://0x7f.1/", AddressKind::Loopback),
            ("http://[::1]/", AddressKind::Loopback),
            ("http://[::ffff:127.0.0.1]/", AddressKind::Loopback),
            ("http://[::ffff:7f00:1]/", AddressKind::Loopback),
            ("http://[::127.0.0.1]/", AddressKind::Loopback),
            ("http://[64:ff9b::a9fe:a9fe]/", AddressKind::Metadata),
            ("http://[64:ff9b::10.0.0.1]/", AddressKind::Private),
            ("http://[2002:a9fe:a9fe::1]/", AddressKind::Metadata),
            ("http://[2002:7f00:1::]/", AddressKind::Loopback),
            ("http://localhost:8080/", AddressKind::Loopback),
            ("http://api.localhost/", AddressKind::Loopback),
            ("http://100.64.0.1/", AddressKind::Cgnat),
            ("http://0.0.0.0/", AddressKind::Unspecified),
            ("http://[::]/", AddressKind::Unspecified),
            ("http://255.255.255.255/", AddressKind::Broadcast),
            ("http://224.0.0.1/", AddressKind::Multicast),
            ("http://[ff02::1]/", AddressKind::Multicast),
            ("http://192.0.2.10/", AddressKind::Documentation),
            ("http://[2001:db8::1]/", AddressKind::Documentation),
            ("http://198.18.0.1/", AddressKind::Benchmarking),
            ("http://240.0.0.1/", AddressKind::Reserved),
            ("http://[2001::1]/", AddressKind::Reserved),
            ("http://[100::1]/", AddressKind::Reserved),
            ("http://100.100.100.200/", AddressKind::Metadata),
            ("http://192.0.0.192/", AddressKind::Metadata),
        ] {
            let refused = check(&policy, url).expect_err(url);
            assert_eq!(refused.kind, kind, "{url}: {refused}");
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        let policy = OutboundPolicy::public_only();
        for url in [
            "https://partner.example.com/databricks",
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[64:ff9b::808:808]/",
            "https://metadata.example.com/",
            "https://localhost.example.com/",
        ] {
            assert_eq!(check(&policy, url), Ok(()), "{url}");
        }
    }

    #[test]
    fn named_ranges_and_cidrs_allow_what_they_name() {
        let loopback = OutboundPolicy::parse(&["loopback"]).unwrap();
        for url in [
            "http://127.0.0.1/",
            "http://127.8.9.10/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost/",
        ] {
            assert_eq!(check(&loopback, url), Ok(()), "{url}");
        }
        assert!(check(&loopback, "http://10.0.0.1/").is_err());
        assert!(check(&loopback, "http://0.0.0.0/").is_err());

        let onprem = OutboundPolicy::parse(&["10.1.0.0/16, link-local"]).unwrap();
        assert_eq!(check(&onprem, "http://10.1.2.3/"), Ok(()));
        assert_eq!(check(&onprem, "http://[::ffff:10.1.2.3]/"), Ok(()));
        assert!(check(&onprem, "http://10.2.0.1/").is_err());
        assert_eq!(check(&onprem, "http://169.254.1.1/"), Ok(()));
        assert_eq!(check(&onprem, "http://[fe80::1]/"), Ok(()));
        // Metadata stays refused inside an allowed range, under any spelling.
        for url in [
            "http://169.254.169.254/",
            "http://0xA9FEA9FE/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/",
        ] {
            assert_eq!(
                check(&onprem, url).map_err(|r| r.kind),
                Err(AddressKind::Metadata),
                "{url}"
            );
        }
        let everything = OutboundPolicy::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert!(check(&everything, "http://169.254.169.254/").is_err());
        assert!(check(&everything, "http://0.0.0.0/").is_err());
        assert_eq!(check(&everything, "http://10.0.0.1/"), Ok(()));
    }

    #[test]
    fn the_setting_is_parsed_strictly() {
        assert_eq!(
            OutboundPolicy::parse(&["Loopback", " private ,loopback"]).unwrap(),
            OutboundPolicy::allowing(&[Range::Loopback, Range::Private])
        );
        assert_eq!(OutboundPolicy::parse::<&str>(&[]).unwrap(), OutboundPolicy::public_only());
        assert_eq!(OutboundPolicy::parse(&["none"]).unwrap(), OutboundPolicy::public_only());
        for bad in ["metadata", "everything", "10.0.0.0/33", "10.0.0/8"] {
            let e = OutboundPolicy::parse(&[bad]).expect_err(bad);
            assert!(!e.is_empty());
        }
        assert_eq!(
            OutboundPolicy::parse(&["loopback,10.1.0.9/16"]).unwrap().describe(),
            "public addresses and loopback, 10.1.0.0/16"
        );
    }

    #[test]
    fn refusals_say_what_and_how_to_allow() {
        let policy = OutboundPolicy::public_only();
        let loopback = policy.check_ip("127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            loopback.to_string(),
            "127.0.0.1 is a loopback address; patchbay calls such addresses only when its administrator allows them (patchbay serve --allow-outbound loopback)"
        );
        let metadata = policy.check_name("metadata.google.internal").unwrap_err();
        assert!(metadata.to_string().ends_with("which patchbay never calls"), "{metadata}");
    }
}
