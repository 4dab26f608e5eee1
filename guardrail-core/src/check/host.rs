//! Host allowlist check for URL arguments (SSRF).
//!
//! [`HostChecker::check`] accepts a URL only when it is an absolute `http`/`https` URL (the
//! policy's scheme list) that is already written in canonical form, carries no userinfo, names a
//! host on the allowlist and uses that host's scheme-default port or a port its allowlist entry
//! names. Canonical form is what rules out parser differentials: the authority must be plain
//! ASCII with no percent-encoding, no backslash or control character may appear anywhere, the
//! scheme must be followed by exactly `://`, and the WHATWG parser (the `url` crate) must not have
//! changed the host beyond ASCII lowercasing — no IDNA mapping, no removed characters, no
//! numeric IPv4 shorthand such as `2130706433` or `0x7f.1`, no empty labels or trailing dot.
//! A URL every parser reads the same way is the only kind whose host check means anything.
//!
//! Raw non-ASCII text and percent-encoded bytes in the path, query and fragment are accepted:
//! they cannot move the request to another host, and the serializer percent-encodes them.
//! Invisible characters there are refused by the argument text check, not here.
//!
//! # Allowlist entries
//!
//! | entry | allows |
//! |---|---|
//! | `api.github.com` | exactly that host, on the scheme's default port |
//! | `*.example.com` | any subdomain at any depth (`a.example.com`, `a.b.example.com`), not `example.com` |
//! | `internal.example:8443` | that host on port 8443 only (list the host again for its default port) |
//! | `10.0.0.0/8`, `2001:db8::/32`, `10.1.2.3`, `::1` | IP literals inside the network; the only way an IP literal is allowed |
//! | `10.1.2.3:8443`, `[2001:db8::1]:8443`, `[2001:db8::/32]:8443` | an IP network on a named port |
//!
//! Entries are case-insensitive; internationalized names are written in their `xn--` form. An
//! IPv4-mapped IPv6 literal (`[::ffff:10.0.0.1]`) is judged as the IPv4 address it maps to.
//!
//! ```
//! use guardrail_core::check::host::{HostChecker, HttpConfig};
//! use guardrail_core::{Coded, ReasonCode};
//!
//! let cfg = HttpConfig { allow: vec!["api.github.com".into()], ..HttpConfig::default() };
//! let checker = HostChecker::new(&cfg).map_err(|issues| format!("{issues:?}"))?;
//!
//! let checked = checker.check("https://API.github.com:443/search?q=日本")?;
//! assert_eq!(checked.as_str(), "https://api.github.com/search?q=%E6%97%A5%E6%9C%AC");
//!
//! let refused = checker.check("https://api.github.com\\@evil.com/").unwrap_err();
//! assert_eq!(refused.code(), ReasonCode::UrlNotCanonical);
//! let refused = checker.check("https://api.github.com:8443/").unwrap_err();
//! assert_eq!(refused.code(), ReasonCode::PortNotAllowed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the caller must do
//!
//! - Send [`CheckedUrl::as_str`] (the serialized form), not the original string.
//! - Do not follow redirects, or run every `Location` through the checker again: an allowlisted
//!   host with an open redirect otherwise leads anywhere.
//! - Connect only to the addresses [`HostChecker::resolve`] returns: resolving the name again
//!   at connect time reopens the hole the check closed (DNS rebinding).
//!
//! # Untrusted input
//!
//! A URL longer than `max_url_bytes` (default 8 KiB) is refused before any parsing. The check
//! runs in time linear in the URL length, allocates only what `url::Url::parse` allocates, and
//! never panics. Resolution ([`HostChecker::resolve`], and [`HostChecker::check`] when
//! `resolve_dns` is on) calls the system resolver and blocks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::policy::PolicyIssue;
use crate::verdict::{Coded, MessageWriter, ReasonCode, error_via_message};

/// Largest value accepted for `http.max_url_bytes`.
pub const MAX_URL_BYTES_LIMIT: usize = 1 << 20;

/// The `[http]` section of the policy: which URLs `url` arguments may name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Allowed schemes, `http` and/or `https` (default both).
    pub schemes: Vec<String>,
    /// Allowed hosts: exact names, `*.` wildcards, CIDR networks, each optionally with a port
    /// (see the module documentation). Empty (the default) allows nothing.
    pub allow: Vec<String>,
    /// Longest URL accepted, in bytes (default 8192).
    pub max_url_bytes: usize,
    /// Resolve the host during the check and refuse private, loopback, link-local, metadata and
    /// other non-public addresses that no CIDR entry allows (default false). Resolution blocks.
    pub resolve_dns: bool,
    /// Entries (same syntax as `allow`) that a caller may add to `allow` for one request only,
    /// such as the sidecar's per-request `allow_hosts`; nothing else can be granted. Default
    /// empty. The checker itself only validates them.
    pub grantable: Vec<String>,
}

impl Default for HttpConfig {
    /// `schemes = ["https", "http"]`, `allow = []` (nothing reachable), `max_url_bytes = 8192`,
    /// `resolve_dns = false`, `grantable = []`.
    fn default() -> Self {
        HttpConfig {
            schemes: vec!["https".to_owned(), "http".to_owned()],
            allow: Vec::new(),
            max_url_bytes: 8192,
            resolve_dns: false,
            grantable: Vec::new(),
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The URL is longer than the policy allows.
    TooLong {
        /// Length of the URL in bytes.
        len: usize,
        /// The policy's limit.
        max: usize,
    },
    /// Whitespace at the start or end, which the WHATWG parser strips and others keep.
    SurroundingWhitespace {
        /// Byte offset of the whitespace character.
        offset: usize,
    },
    /// A tab, CR, LF, NUL or other control character; WHATWG removes tabs and newlines
    /// anywhere, other stacks keep or truncate at them.
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A backslash: a `/` to the WHATWG parser, data to RFC 3986 parsers.
    Backslash {
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// No `scheme:` prefix: not an absolute URL.
    NoScheme,
    /// The scheme is not in the policy's scheme list.
    SchemeNotAllowed {
        /// End of the scheme (the offset of the `:`).
        end: usize,
    },
    /// The scheme is not followed by exactly `://` and a host.
    MissingAuthority {
        /// Byte offset where `//` or the host was expected.
        offset: usize,
    },
    /// A username or password (any `@` in the authority).
    UserinfoPresent {
        /// Byte offset of the `@`.
        offset: usize,
    },
    /// A non-ASCII character in the authority, which IDNA processing may map to ASCII.
    NonAsciiAuthority {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A `%` in the authority: the host parser decodes it.
    PercentInAuthority {
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// A character that has no place in a host name.
    HostCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// An empty label: a leading, doubled or trailing dot.
    EmptyLabel {
        /// Byte offset of the dot that ends or starts the empty label.
        offset: usize,
    },
    /// The WHATWG parser does not accept the URL.
    Invalid(url::ParseError),
    /// The parsed host differs from the host as written (IDNA mapping, numeric IPv4
    /// shorthand, a non-canonical IP literal).
    HostNotCanonical {
        /// Start of the host as written.
        start: usize,
        /// End of the host as written.
        end: usize,
    },
    /// The port is empty, has leading zeros or otherwise differs from its parsed value.
    PortNotCanonical {
        /// Start of the port as written.
        start: usize,
        /// End of the port as written.
        end: usize,
    },
    /// The host is allowlisted, but not on this port.
    PortNotAllowed {
        /// The effective port.
        port: u16,
    },
    /// The host name is not on the allowlist.
    HostNotAllowed {
        /// Start of the host as written.
        start: usize,
        /// End of the host as written.
        end: usize,
    },
    /// An IP literal that no CIDR entry covers.
    IpNotAllowed {
        /// The address.
        ip: IpAddr,
        /// Start of the address as written (an IPv6 literal with its brackets).
        start: usize,
        /// End of the address as written.
        end: usize,
    },
    /// The system resolver failed or returned no address.
    DnsResolutionFailed {
        /// The (allowlisted) host.
        host: String,
        /// What the resolver said.
        detail: String,
    },
    /// The host resolved to an address that must not be reached.
    ResolvedAddressForbidden {
        /// The (allowlisted) host.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
}

impl HostError {
    /// The byte span of the offending part of the URL, when known.
    pub fn span(&self) -> Option<(usize, usize)> {
        match *self {
            HostError::SurroundingWhitespace { offset }
            | HostError::Backslash { offset }
            | HostError::MissingAuthority { offset }
            | HostError::UserinfoPresent { offset }
            | HostError::PercentInAuthority { offset }
            | HostError::EmptyLabel { offset } => Some((offset, offset.saturating_add(1))),
            HostError::ControlCharacter { offset, ch }
            | HostError::NonAsciiAuthority { offset, ch }
            | HostError::HostCharacter { offset, ch } => {
                Some((offset, offset.saturating_add(ch.len_utf8())))
            }
            HostError::SchemeNotAllowed { end } => Some((0, end)),
            HostError::HostNotCanonical { start, end }
            | HostError::PortNotCanonical { start, end }
            | HostError::HostNotAllowed { start, end }
            | HostError::IpNotAllowed { start, end, .. } => Some((start, end)),
            _ => None,
        }
    }
}

impl HostError {
    /// Writes the message: what `Display` shows and a reason carries.
    fn write_message(&self, w: &mut MessageWriter<'_>) {
        match self {
            HostError::TooLong { len, max } => w
                .text("url is ")
                .decimal(*len)
                .text(" bytes, over the limit of ")
                .decimal(*max),
            HostError::SurroundingWhitespace { offset } => w
                .text("url has leading or trailing whitespace at byte ")
                .decimal(*offset),
            HostError::ControlCharacter { offset, ch } => w
                .text("control character ")
                .code_point(u32::from(*ch))
                .text(" at byte ")
                .decimal(*offset),
            HostError::Backslash { offset } => w.text("backslash at byte ").decimal(*offset),
            HostError::NoScheme => w.text("url has no scheme"),
            HostError::SchemeNotAllowed { end } => w
                .text("scheme at bytes 0..")
                .decimal(*end)
                .text(" is not allowed"),
            HostError::MissingAuthority { offset } => w
                .text("scheme must be followed by `://` and a host (byte ")
                .decimal(*offset)
                .text(")"),
            HostError::UserinfoPresent { offset } => w
                .text("url carries userinfo (`@` at byte ")
                .decimal(*offset)
                .text(")"),
            HostError::NonAsciiAuthority { offset, ch } => w
                .text("non-ASCII character ")
                .code_point(u32::from(*ch))
                .text(" in the authority at byte ")
                .decimal(*offset),
            HostError::PercentInAuthority { offset } => w
                .text("percent-encoding in the authority at byte ")
                .decimal(*offset),
            HostError::HostCharacter { offset, ch } => w
                .text("character ")
                .code_point(u32::from(*ch))
                .text(" at byte ")
                .decimal(*offset)
                .text(" is not allowed in a host name"),
            HostError::EmptyLabel { offset } => {
                w.text("empty label in the host at byte ").decimal(*offset)
            }
            HostError::Invalid(e) => w.text("url does not parse: ").display(e),
            HostError::HostNotCanonical { start, end } => w
                .text("host at bytes ")
                .decimal(*start)
                .text("..")
                .decimal(*end)
                .text(" is not written in canonical form"),
            HostError::PortNotCanonical { start, end } => w
                .text("port at bytes ")
                .decimal(*start)
                .text("..")
                .decimal(*end)
                .text(" is not written in canonical form"),
            HostError::PortNotAllowed { port } => w
                .text("port ")
                .decimal(usize::from(*port))
                .text(" is not allowed for this host"),
            HostError::HostNotAllowed { start, end } => w
                .text("host at bytes ")
                .decimal(*start)
                .text("..")
                .decimal(*end)
                .text(" is not on the allowlist"),
            HostError::IpNotAllowed { start, end, .. } => w
                .text("ip address at bytes ")
                .decimal(*start)
                .text("..")
                .decimal(*end)
                .text(" is not covered by an allowlist network"),
            HostError::DnsResolutionFailed { host, detail } => w
                .text("resolving `")
                .text(host)
                .text("` failed: ")
                .text(detail),
            HostError::ResolvedAddressForbidden { host, addr } => w
                .text("`")
                .text(host)
                .text("` resolved to the non-public address `")
                .display(addr)
                .text("`"),
        };
    }
}

error_via_message!(HostError);

impl Coded for HostError {
    fn code(&self) -> ReasonCode {
        match self {
            HostError::TooLong { .. } => ReasonCode::UrlTooLong,
            HostError::SurroundingWhitespace { .. }
            | HostError::ControlCharacter { .. }
            | HostError::Backslash { .. }
            | HostError::MissingAuthority { .. }
            | HostError::NonAsciiAuthority { .. }
            | HostError::PercentInAuthority { .. }
            | HostError::HostCharacter { .. }
            | HostError::EmptyLabel { .. }
            | HostError::HostNotCanonical { .. }
            | HostError::PortNotCanonical { .. } => ReasonCode::UrlNotCanonical,
            HostError::NoScheme | HostError::Invalid(_) => ReasonCode::UrlInvalid,
            HostError::SchemeNotAllowed { .. } => ReasonCode::SchemeNotAllowed,
            HostError::UserinfoPresent { .. } => ReasonCode::UserinfoPresent,
            HostError::PortNotAllowed { .. } => ReasonCode::PortNotAllowed,
            HostError::HostNotAllowed { .. } => ReasonCode::HostNotAllowed,
            HostError::IpNotAllowed { .. } => ReasonCode::IpNotAllowed,
            HostError::DnsResolutionFailed { .. } => ReasonCode::DnsResolutionFailed,
            HostError::ResolvedAddressForbidden { .. } => ReasonCode::ResolvedAddressForbidden,
        }
    }

    fn write_message_to(&self, out: &mut String) {
        self.write_message(&mut MessageWriter(out));
    }

    fn span(&self) -> Option<(usize, usize)> {
        HostError::span(self)
    }
}

/// A URL that passed [`HostChecker::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    url: Url,
    port: u16,
    addrs: Vec<SocketAddr>,
}

impl CheckedUrl {
    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The serialized URL: the string to send.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host (a lowercase domain or an IP address).
    pub fn host(&self) -> Host<&str> {
        // A checked URL always has a host; the fallback is never taken.
        self.url.host().unwrap_or(Host::Domain(""))
    }

    /// The port to connect to (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses the check resolved and vetted when `resolve_dns` is on (connect to exactly
    /// these); empty otherwise.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The parsed URL, by value.
    pub fn into_url(self) -> Url {
        self.url
    }
}

/// Ports one host or network is allowed on.
#[derive(Debug, Clone, Default)]
struct Ports {
    default: bool,
    named: Vec<u16>,
}

impl Ports {
    fn add(&mut self, port: Option<u16>) {
        match port {
            None => self.default = true,
            Some(p) if !self.named.contains(&p) => self.named.push(p),
            Some(_) => {}
        }
    }

    fn allows(&self, port: u16, default_port: u16) -> bool {
        (self.default && port == default_port) || self.named.contains(&port)
    }
}

/// One allowlist entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Exact(String),
    /// The suffix with its leading dot: `.example.com` for `*.example.com`.
    Suffix(String),
    Net(IpNet),
}

#[derive(Debug, Clone)]
struct Scheme {
    name: String,
    default_port: u16,
}

/// The compiled `[http]` policy. Build once, share across threads.
#[derive(Debug, Clone)]
pub struct HostChecker {
    schemes: Vec<Scheme>,
    exact: HashMap<String, Ports>,
    suffixes: Vec<(String, Ports)>,
    nets: Vec<(IpNet, Ports)>,
    max_url_bytes: usize,
    resolve_dns: bool,
}

impl HostChecker {
    /// Compiles the configuration, reporting every invalid scheme, allowlist entry and limit.
    pub fn new(cfg: &HttpConfig) -> Result<Self, Vec<PolicyIssue>> {
        let mut issues = Vec::new();

        let mut schemes: Vec<Scheme> = Vec::new();
        for (i, raw) in cfg.schemes.iter().enumerate() {
            let name = raw.to_ascii_lowercase();
            let default_port = match name.as_str() {
                "http" => 80,
                "https" => 443,
                _ => {
                    issues.push(PolicyIssue::new(
                        format!("http.schemes[{i}]"),
                        format!("unsupported scheme `{raw}`: only `http` and `https` are"),
                    ));
                    continue;
                }
            };
            if !schemes.iter().any(|s| s.name == name) {
                schemes.push(Scheme { name, default_port });
            }
        }

        if cfg.max_url_bytes == 0 || cfg.max_url_bytes > MAX_URL_BYTES_LIMIT {
            issues.push(PolicyIssue::new(
                "http.max_url_bytes",
                format!("must be 1..={MAX_URL_BYTES_LIMIT}"),
            ));
        }

        let mut exact: HashMap<String, Ports> = HashMap::new();
        let mut suffixes: Vec<(String, Ports)> = Vec::new();
        let mut nets: Vec<(IpNet, Ports)> = Vec::new();
        for (i, raw) in cfg.allow.iter().enumerate() {
            match parse_entry(raw) {
                Ok((Target::Exact(host), port)) => exact.entry(host).or_default().add(port),
                Ok((Target::Suffix(suffix), port)) => {
                    match suffixes.iter_mut().find(|(s, _)| *s == suffix) {
                        Some((_, ports)) => ports.add(port),
                        None => {
                            let mut ports = Ports::default();
                            ports.add(port);
                            suffixes.push((suffix, ports));
                        }
                    }
                }
                Ok((Target::Net(net), port)) => match nets.iter_mut().find(|(n, _)| *n == net) {
                    Some((_, ports)) => ports.add(port),
                    None => {
                        let mut ports = Ports::default();
                        ports.add(port);
                        nets.push((net, ports));
                    }
                },
                Err(message) => issues.push(PolicyIssue::new(format!("http.allow[{i}]"), message)),
            }
        }
        for (i, raw) in cfg.grantable.iter().enumerate() {
            if let Err(message) = parse_entry(raw) {
                issues.push(PolicyIssue::new(format!("http.grantable[{i}]"), message));
            }
        }

        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(HostChecker {
            schemes,
            exact,
            suffixes,
            nets,
            max_url_bytes: cfg.max_url_bytes,
            resolve_dns: cfg.resolve_dns,
        })
    }

    /// Whether [`check`](Self::check) also resolves the host (`http.resolve_dns`).
    pub fn resolves_dns(&self) -> bool {
        self.resolve_dns
    }

    /// Checks one URL argument. When `resolve_dns` is on this also calls
    /// [`resolve`](Self::resolve), which blocks, and the result carries the vetted addresses.
    pub fn check(&self, url: &str) -> Result<CheckedUrl, HostError> {
        if url.len() > self.max_url_bytes {
            return Err(HostError::TooLong {
                len: url.len(),
                max: self.max_url_bytes,
            });
        }
        scan_raw(url)?;

        let (scheme_text, rest) = split_scheme(url).ok_or(HostError::NoScheme)?;
        let scheme = self
            .schemes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(scheme_text))
            .ok_or(HostError::SchemeNotAllowed {
                end: scheme_text.len(),
            })?;
        let authority_start = scheme_text.len().saturating_add(3);
        let after_slashes = rest.strip_prefix("//").ok_or(HostError::MissingAuthority {
            offset: scheme_text.len().saturating_add(1),
        })?;
        let authority_len = after_slashes
            .bytes()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(after_slashes.len());
        let authority = after_slashes.get(..authority_len).unwrap_or_default();
        if authority.is_empty() {
            return Err(HostError::MissingAuthority {
                offset: authority_start,
            });
        }
        check_authority_text(authority, authority_start)?;

        let parsed = Url::parse(url).map_err(HostError::Invalid)?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(HostError::UserinfoPresent {
                offset: authority_start,
            });
        }
        if !parsed.scheme().eq_ignore_ascii_case(scheme_text) {
            return Err(HostError::SchemeNotAllowed {
                end: scheme_text.len(),
            });
        }

        let split = split_authority(authority, authority_start)?;
        let host = parsed
            .host()
            .ok_or(HostError::Invalid(url::ParseError::EmptyHost))?;
        let port = parsed
            .port_or_known_default()
            .ok_or(HostError::Invalid(url::ParseError::InvalidPort))?;
        if let Some((port_text, port_start)) = split.port
            && !port_is_canonical(port_text, port)
        {
            return Err(HostError::PortNotCanonical {
                start: port_start,
                end: port_start.saturating_add(port_text.len()),
            });
        }
        let host_span = (
            split.host_start,
            split.host_start.saturating_add(split.host.len()),
        );
        let not_canonical = HostError::HostNotCanonical {
            start: host_span.0,
            end: host_span.1,
        };

        let ports = match host {
            Host::Domain(domain) => {
                check_domain_text(split.host, split.host_start)?;
                if !split.host.eq_ignore_ascii_case(domain) {
                    return Err(not_canonical);
                }
                let matched = self.exact.get(domain).into_iter().chain(
                    self.suffixes
                        .iter()
                        .filter(|(suffix, _)| {
                            domain.len() > suffix.len() && domain.ends_with(suffix.as_str())
                        })
                        .map(|(_, ports)| ports),
                );
                match_ports(matched, port, scheme.default_port).ok_or(
                    HostError::HostNotAllowed {
                        start: host_span.0,
                        end: host_span.1,
                    },
                )?
            }
            Host::Ipv4(ip) => {
                if !ipv4_is_canonical(split.host, ip) {
                    return Err(not_canonical);
                }
                self.match_ip(IpAddr::V4(ip), host_span, port, scheme.default_port)?
            }
            Host::Ipv6(ip) => {
                let inner = split
                    .host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or_default();
                if inner.parse::<Ipv6Addr>().ok() != Some(ip) {
                    return Err(not_canonical);
                }
                self.match_ip(IpAddr::V6(ip), host_span, port, scheme.default_port)?
            }
        };
        if !ports {
            return Err(HostError::PortNotAllowed { port });
        }

        let mut checked = CheckedUrl {
            url: parsed,
            port,
            addrs: Vec::new(),
        };
        if self.resolve_dns {
            checked.addrs = self.resolve(&checked)?;
        }
        Ok(checked)
    }

    /// Resolves a checked URL's host with the system resolver and vets every address.
    ///
    /// This **blocks** (it calls `getaddrinfo` through [`std::net::ToSocketAddrs`]); call it on
    /// a blocking thread in async code. An IP-literal host is returned as is. If any address is
    /// private, loopback, link-local, unspecified, multicast, broadcast, shared, documentation,
    /// benchmarking, reserved, unique-local, site-local, cloud metadata, or an IPv4-in-IPv6
    /// embedding of one of those (see [`address_forbidden`]), and no CIDR entry covers it, the
    /// whole URL is refused.
    ///
    /// Connect to exactly the returned addresses (with the URL's host as the TLS server name and
    /// `Host` header). Resolving the name again when connecting lets DNS rebinding hand out a
    /// different, internal address after this check has passed.
    pub fn resolve(&self, checked: &CheckedUrl) -> Result<Vec<SocketAddr>, HostError> {
        let port = checked.port;
        let host_name = checked.url.host_str().unwrap_or_default();
        let addrs: Vec<SocketAddr> = match checked.url.host() {
            Some(Host::Domain(domain)) => (domain, port)
                .to_socket_addrs()
                .map_err(|e| HostError::DnsResolutionFailed {
                    host: domain.to_owned(),
                    detail: e.to_string(),
                })?
                .collect(),
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            None => return Err(HostError::Invalid(url::ParseError::EmptyHost)),
        };
        if addrs.is_empty() {
            return Err(HostError::DnsResolutionFailed {
                host: host_name.to_owned(),
                detail: "no addresses".to_owned(),
            });
        }
        if let Some(ip) = addrs
            .iter()
            .map(SocketAddr::ip)
            .find(|&ip| address_forbidden(ip) && !self.net_covers(ip))
        {
            tracing::debug!(host = host_name, %ip, "resolved address refused");
            return Err(HostError::ResolvedAddressForbidden {
                host: host_name.to_owned(),
                addr: ip,
            });
        }
        Ok(addrs)
    }

    fn net_covers(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.nets
            .iter()
            .any(|(net, _)| net.contains(&ip) || net.contains(&canonical))
    }

    /// `Ok(true)`: allowed on this port; `Ok(false)`: covered, but not on this port.
    /// Whether an entry covers `ip` (written at `span` of the URL) on `port`.
    fn match_ip(
        &self,
        ip: IpAddr,
        span: (usize, usize),
        port: u16,
        default_port: u16,
    ) -> Result<bool, HostError> {
        let canonical = ip.to_canonical();
        let matched = self
            .nets
            .iter()
            .filter(|(net, _)| net.contains(&ip) || net.contains(&canonical))
            .map(|(_, ports)| ports);
        match_ports(matched, port, default_port).ok_or(HostError::IpNotAllowed {
            ip,
            start: span.0,
            end: span.1,
        })
    }
}

/// `None`: no entry matched; `Some(allowed)`: some entry matched, and whether one allows `port`.
fn match_ports<'a>(
    matched: impl Iterator<Item = &'a Ports>,
    port: u16,
    default_port: u16,
) -> Option<bool> {
    let mut any = false;
    for ports in matched {
        if ports.allows(port, default_port) {
            return Some(true);
        }
        any = true;
    }
    any.then_some(false)
}

/// Refuses surrounding whitespace, control characters and backslashes anywhere.
fn scan_raw(url: &str) -> Result<(), HostError> {
    if url.chars().next().is_some_and(char::is_whitespace) {
        return Err(HostError::SurroundingWhitespace { offset: 0 });
    }
    if let Some((offset, _)) = url
        .char_indices()
        .next_back()
        .filter(|(_, c)| c.is_whitespace())
    {
        return Err(HostError::SurroundingWhitespace { offset });
    }
    // One pass without an early exit (it vectorizes) says whether any byte is refused; the
    // position is looked for only then.
    let refused = |b: u8| b < 0x20 || b == 0x7f || b == b'\\';
    if url.bytes().fold(false, |any, b| any | refused(b))
        && let Some((offset, &b)) = url
            .as_bytes()
            .iter()
            .enumerate()
            .find(|(_, b)| refused(**b))
    {
        return Err(if b == b'\\' {
            HostError::Backslash { offset }
        } else {
            HostError::ControlCharacter {
                offset,
                ch: char::from(b),
            }
        });
    }
    if !url.is_ascii()
        && let Some((offset, ch)) = url.char_indices().find(|(_, c)| c.is_control())
    {
        return Err(HostError::ControlCharacter { offset, ch });
    }
    Ok(())
}

/// `scheme` and the text after its `:`, when the URL starts with a syntactically valid scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let colon = url.bytes().position(|b| b == b':')?;
    let (scheme, rest) = (url.get(..colon)?, url.get(colon + 1..)?);
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    let valid = first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// The raw authority must be ASCII, free of `%`, and must not contain `@`.
fn check_authority_text(authority: &str, start: usize) -> Result<(), HostError> {
    // An authority is a few bytes: a plain loop beats setting up a substring search.
    let bytes = authority.as_bytes();
    if let Some(i) = bytes.iter().position(|&b| b == b'@') {
        return Err(HostError::UserinfoPresent {
            offset: start.saturating_add(i),
        });
    }
    let Some(i) = bytes.iter().position(|&b| b == b'%' || !b.is_ascii()) else {
        return Ok(());
    };
    let offset = start.saturating_add(i);
    match authority.get(i..).and_then(|rest| rest.chars().next()) {
        Some('%') => Err(HostError::PercentInAuthority { offset }),
        Some(ch) => Err(HostError::NonAsciiAuthority { offset, ch }),
        // Unreachable for a `str` (the byte found starts a character); refused all the same.
        None => Err(HostError::Invalid(url::ParseError::InvalidDomainCharacter)),
    }
}

struct AuthoritySplit<'a> {
    host: &'a str,
    host_start: usize,
    port: Option<(&'a str, usize)>,
}

/// Splits a raw authority (already known to be ASCII, without `@`) into host and port text.
fn split_authority(authority: &str, start: usize) -> Result<AuthoritySplit<'_>, HostError> {
    let host_len = if authority.starts_with('[') {
        authority
            .find(']')
            .map(|i| i.saturating_add(1))
            .ok_or(HostError::Invalid(url::ParseError::InvalidIpv6Address))?
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority
        .split_at_checked(host_len)
        .ok_or(HostError::Invalid(url::ParseError::EmptyHost))?;
    let port_start = start.saturating_add(host_len).saturating_add(1);
    let port = if rest.is_empty() {
        None
    } else {
        let port_text = rest.strip_prefix(':').ok_or(HostError::PortNotCanonical {
            start: port_start.saturating_sub(1),
            end: start.saturating_add(authority.len()),
        })?;
        Some((port_text, port_start))
    };
    Ok(AuthoritySplit {
        host,
        host_start: start,
        port,
    })
}

/// A domain as written: letters, digits, `-`, `_` and dots between non-empty labels.
fn check_domain_text(host: &str, start: usize) -> Result<(), HostError> {
    let mut label_empty = true;
    for (i, ch) in host.char_indices() {
        let offset = start.saturating_add(i);
        if ch == '.' {
            if label_empty {
                return Err(HostError::EmptyLabel { offset });
            }
            label_empty = true;
        } else if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
            label_empty = false;
        } else {
            return Err(HostError::HostCharacter { offset, ch });
        }
    }
    if label_empty {
        let offset = start.saturating_add(host.len().saturating_sub(1));
        return Err(HostError::EmptyLabel { offset });
    }
    Ok(())
}

/// Dotted decimal with four parts and no leading zeros, equal to `ip`.
fn ipv4_is_canonical(text: &str, ip: Ipv4Addr) -> bool {
    // Four dot-separated decimal octets without leading zeros, equal to `ip`'s.
    let mut octets = ip.octets().into_iter();
    let mut parts = 0;
    for part in text.as_bytes().split(|&b| b == b'.') {
        let Some(octet) = octets.next() else {
            return false;
        };
        if part.len() > 3 || !decimal_is_canonical(part) {
            return false;
        }
        let value = part.iter().fold(0u16, |v, &b| v * 10 + u16::from(b - b'0'));
        if value != u16::from(octet) {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

fn port_is_canonical(text: &str, port: u16) -> bool {
    decimal_is_canonical(text.as_bytes()) && text.parse::<u16>().ok() == Some(port)
}

/// Non-empty ASCII digits without a leading zero (except `0` itself).
fn decimal_is_canonical(text: &[u8]) -> bool {
    !text.is_empty()
        && text.iter().all(u8::is_ascii_digit)
        && (text.len() == 1 || !text.starts_with(b"0"))
}

/// Parses one allowlist entry into its target and optional port.
fn parse_entry(raw: &str) -> Result<(Target, Option<u16>), String> {
    if raw.is_empty() {
        return Err("empty entry".to_owned());
    }
    if let Some(ch) = raw
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_whitespace() || c.is_control())
    {
        return Err(format!(
            "character U+{:04X} in `{raw}`: entries are ASCII host names (write IDNs in their \
             `xn--` form), CIDRs or IPs, without spaces",
            u32::from(ch)
        ));
    }
    if raw.contains("://") || raw.contains('@') || raw.contains('?') || raw.contains('#') {
        return Err(format!(
            "`{raw}` is a URL: write a host, `host:port`, `*.domain` or a CIDR"
        ));
    }

    let (host, port_text, bracketed) = if let Some(inner) = raw.strip_prefix('[') {
        let (inside, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{raw}`: missing `]`"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("`{raw}`: only `:port` may follow `]`"))?,
            ),
        };
        (inside, port, true)
    } else if raw.bytes().filter(|&b| b == b':').count() > 1 {
        (raw, None, false)
    } else {
        match raw.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (raw, None, false),
        }
    };

    let port = match port_text {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(p) if p != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(p),
            _ => return Err(format!("`{raw}`: port must be 1..=65535")),
        },
    };

    if bracketed || host.contains('/') || host.parse::<IpAddr>().is_ok() {
        let net = if host.contains('/') {
            let net: IpNet = host
                .parse()
                .map_err(|_| format!("`{raw}`: not a valid CIDR network"))?;
            if net.trunc() != net {
                return Err(format!(
                    "`{raw}`: host bits are set; did you mean `{}`?",
                    net.trunc()
                ));
            }
            net
        } else {
            let ip: IpAddr = host
                .parse()
                .map_err(|_| format!("`{raw}`: not a valid IPv6 address"))?;
            IpNet::from(ip)
        };
        if bracketed && !matches!(net, IpNet::V6(_)) {
            return Err(format!("`{raw}`: brackets hold an IPv6 address or network"));
        }
        return Ok((Target::Net(net), port));
    }

    let host = host.to_ascii_lowercase();
    if let Some(suffix) = host.strip_prefix("*.") {
        validate_domain(raw, suffix)?;
        return Ok((Target::Suffix(format!(".{suffix}")), port));
    }
    if host.contains('*') {
        return Err(format!(
            "`{raw}`: `*` is only allowed as the whole first label (`*.example.com`)"
        ));
    }
    validate_domain(raw, &host)?;
    Ok((Target::Exact(host), port))
}

/// A lowercase domain entry must be what the WHATWG host parser produces from it.
fn validate_domain(raw: &str, domain: &str) -> Result<(), String> {
    if domain.is_empty() || domain.len() > 253 {
        return Err(format!("`{raw}`: a host name is 1 to 253 characters"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!(
                "`{raw}`: empty label (leading, doubled or trailing dot)"
            ));
        }
        if label.len() > 63 {
            return Err(format!("`{raw}`: label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "`{raw}`: host names hold letters, digits, `-` and `_` (use `*.` for a wildcard)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{raw}`: a label starts or ends with `-`"));
        }
    }
    let last = domain.rsplit('.').next().unwrap_or_default();
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if last.bytes().all(|b| b.is_ascii_digit()) || hex {
        return Err(format!(
            "`{raw}`: ends in a number, so URLs read it as an IPv4 address; write IP addresses \
             as `a.b.c.d` or `a.b.c.d/len`"
        ));
    }
    match Host::parse(domain) {
        Ok(Host::Domain(parsed)) if parsed == domain => Ok(()),
        Ok(_) => Err(format!("`{raw}`: URLs read this as a different host")),
        Err(e) => Err(format!("`{raw}`: not a valid host name ({e})")),
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// IPv4 networks that must not be reached: `(network, prefix length)`.
const FORBIDDEN_V4: &[(u32, u32)] = &[
    (v4(0, 0, 0, 0), 8),        // "this network", including the unspecified 0.0.0.0
    (v4(10, 0, 0, 0), 8),       // private
    (v4(100, 64, 0, 0), 10),    // shared address space (CGNAT); Alibaba metadata 100.100.100.200
    (v4(127, 0, 0, 0), 8),      // loopback
    (v4(169, 254, 0, 0), 16),   // link-local; AWS/GCP/Azure/OpenStack metadata 169.254.169.254
    (v4(172, 16, 0, 0), 12),    // private
    (v4(192, 0, 0, 0), 24),     // IETF protocol assignments (Oracle metadata 192.0.0.192)
    (v4(192, 0, 2, 0), 24),     // documentation TEST-NET-1
    (v4(192, 88, 99, 0), 24),   // deprecated 6to4 relay anycast
    (v4(192, 168, 0, 0), 16),   // private
    (v4(198, 18, 0, 0), 15),    // benchmarking
    (v4(198, 51, 100, 0), 24),  // documentation TEST-NET-2
    (v4(203, 0, 113, 0), 24),   // documentation TEST-NET-3
    (v4(224, 0, 0, 0), 4),      // multicast
    (v4(240, 0, 0, 0), 4),      // reserved, including the broadcast 255.255.255.255
    (v4(168, 63, 129, 16), 32), // Azure WireServer: a platform endpoint reachable from every VM
];

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    FORBIDDEN_V4.iter().any(|&(net, len)| {
        let mask = u32::MAX.checked_shl(32u32.saturating_sub(len)).unwrap_or(0);
        n & mask == net
    })
}

fn in_v6(n: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX
        .checked_shl(128u32.saturating_sub(len))
        .unwrap_or(0);
    n & mask == net
}

/// Whether an address must not be reached: anything that is not ordinary public unicast.
///
/// IPv4: `0/8` (unspecified), `10/8`, `172.16/12`, `192.168/16` (private), `100.64/10` (shared),
/// `127/8` (loopback), `169.254/16` (link-local), `192.0.0/24`, `192.88.99/24`, `240/4`
/// (reserved, broadcast), the three documentation nets, `198.18/15` (benchmarking), `224/4`
/// (multicast) and the cloud platform endpoints 169.254.169.254, 100.100.100.200, 192.0.0.192
/// and 168.63.129.16.
///
/// IPv6: every address outside global unicast `2000::/3` (`::`, `::1`, multicast, link-local,
/// site-local, unique-local `fc00::/7` with the AWS metadata `fd00:ec2::254`, discard, local
/// NAT64 `64:ff9b:1::/48`, ...), `2001::/23` protocol assignments, `2001:db8::/32` and
/// `3fff::/20` (documentation). Addresses that embed an IPv4 address — IPv4-mapped
/// `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96`, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32` (server and client) — are judged by
/// the embedded address.
pub fn address_forbidden(ip: IpAddr) -> bool {
    let v6 = match ip {
        IpAddr::V4(v4) => return v4_forbidden(v4),
        IpAddr::V6(v6) => v6,
    };
    let n = u128::from(v6);
    let low32 = Ipv4Addr::from((n & 0xffff_ffff) as u32);
    if n <= 1 {
        return true;
    }
    if in_v6(n, 0, 96)
        || in_v6(n, 0xffff << 32, 96)
        || in_v6(n, 0xffff << 48, 96)
        || in_v6(n, 0x0064_ff9b << 96, 96)
    {
        return v4_forbidden(low32);
    }
    if in_v6(n, 0x2002 << 112, 16) {
        return v4_forbidden(Ipv4Addr::from(((n >> 80) & 0xffff_ffff) as u32));
    }
    if in_v6(n, 0x2001_0000 << 96, 32) {
        let server = Ipv4Addr::from(((n >> 64) & 0xffff_ffff) as u32);
        let client = Ipv4Addr::from(!((n & 0xffff_ffff) as u32));
        return v4_forbidden(server) || v4_forbidden(client);
    }
    !in_v6(n, 0x2000 << 112, 3)
        || in_v6(n, 0x2001 << 112, 23)
        || in_v6(n, 0x2001_0db8 << 96, 32)
        || in_v6(n, 0x3fff << 112, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(allow: &[&str]) -> HostChecker {
        let cfg = HttpConfig {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            ..HttpConfig::default()
        };
        match HostChecker::new(&cfg) {
            Ok(c) => c,
            Err(issues) => panic!("config rejected: {issues:?}"),
        }
    }

    /// The allowlist behind the corpus labels.
    fn corpus_checker() -> HostChecker {
        checker(&["api.github.com", "docs.internal.example"])
    }

    fn code(c: &HostChecker, url: &str) -> Option<ReasonCode> {
        c.check(url).err().map(|e| e.code())
    }

    #[track_caller]
    fn allowed(c: &HostChecker, url: &str) {
        if let Err(e) = c.check(url) {
            panic!("{url:?} refused: {e} ({})", e.code());
        }
    }

    #[track_caller]
    fn refused(c: &HostChecker, url: &str, expected: ReasonCode) {
        assert_eq!(code(c, url), Some(expected), "{url:?}");
    }

    // --- corpus ---

    const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpora/actions/");

    /// Rows the host check allows whose deny belongs to another stage.
    const OTHER_STAGE: &[(&str, &str)] = &[
        (
            "unicode-003",
            "tag characters in the query: the invisible-character check",
        ),
        (
            "unicode-031",
            "a bidi control in the path: the invisible-character check",
        ),
        (
            "json-088",
            "an undeclared `headers` argument: the tool schema",
        ),
    ];

    /// `(id, url, expect_allow)` for every `http_get` row with a URL. Rows without `args` are
    /// read from their input when it is the flat `{"tool": "http_get", "args": {..}}` envelope.
    fn corpus_rows(file: &str) -> Vec<(String, String, bool)> {
        let path = format!("{CORPUS_DIR}{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut rows = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = row["id"].as_str().unwrap().to_owned();
            let expect = match row["expect"].as_str() {
                Some("allow") => true,
                Some("deny") => false,
                other => panic!("{id}: expect {other:?}"),
            };
            let envelope = row["input"]
                .as_str()
                .and_then(|input| serde_json::from_str::<serde_json::Value>(input).ok());
            let (tool, args) = if row.get("args").is_some() {
                (row["tool"].clone(), row["args"].clone())
            } else if let Some(env) = envelope {
                (env["tool"].clone(), env["args"].clone())
            } else {
                continue;
            };
            if tool.as_str() != Some("http_get") {
                continue;
            }
            if let Some(url) = args["url"].as_str() {
                rows.push((id, url.to_owned(), expect));
            }
        }
        rows
    }

    #[test]
    fn ipv4_canonical_form() {
        let ip = Ipv4Addr::new(10, 0, 20, 255);
        assert!(ipv4_is_canonical("10.0.20.255", ip));
        for text in [
            "010.0.20.255",
            "10.00.20.255",
            "10.0.20",
            "10.0.20.255.",
            "10.0.20.255.1",
            ".10.0.20.255",
            "10..0.20.255",
            "10.0.20.0255",
            "10.0.20.+255",
            "10.0.20.254",
            "10.0.5140",
            "",
        ] {
            assert!(!ipv4_is_canonical(text, ip), "{text}");
        }
        assert!(ipv4_is_canonical("0.0.0.0", Ipv4Addr::UNSPECIFIED));
    }
    #[test]
    fn corpus_labels() {
        let c = corpus_checker();
        let mut failures = Vec::new();
        let mut excluded_seen = Vec::new();
        for (file, count) in [
            ("ssrf_url_allowlist.jsonl", 142),
            ("unicode_smuggling.jsonl", 17),
            ("json_parsing_formats.jsonl", 4),
        ] {
            let rows = corpus_rows(file);
            assert_eq!(rows.len(), count, "{file}: http_get rows with a url");
            for (id, url, expect_allow) in rows {
                let result = c.check(&url);
                if let Some((_, why)) = OTHER_STAGE.iter().find(|(x, _)| *x == id) {
                    assert!(!expect_allow, "{id} is listed as another stage's deny");
                    assert!(
                        result.is_ok(),
                        "{id} ({why}) is denied here too: drop it from the list"
                    );
                    excluded_seen.push(id);
                    continue;
                }
                if result.is_ok() != expect_allow {
                    failures.push(format!(
                        "{id}: expected {} for {url:?}, got {result:?}",
                        if expect_allow { "allow" } else { "deny" }
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(
            excluded_seen.len(),
            OTHER_STAGE.len(),
            "stale exclusions: {excluded_seen:?}"
        );
    }

    #[test]
    fn corpus_reason_codes() {
        use ReasonCode as R;
        let c = corpus_checker();
        for (url, expected) in [
            ("https://api.github.com.evil.com/", R::HostNotAllowed),
            ("https://evil.com@api.github.com/", R::UserinfoPresent),
            ("https://api.github.com%40evil.com/", R::UrlNotCanonical),
            ("https://evil.com\\@api.github.com/", R::UrlNotCanonical),
            ("https:///api.github.com/repos", R::UrlNotCanonical),
            ("https:api.github.com/repos", R::UrlNotCanonical),
            ("//api.github.com/repos", R::UrlInvalid),
            ("api.github.com/repos", R::UrlInvalid),
            ("https ://api.github.com/", R::UrlInvalid),
            ("0://evil.com:80;http://api.github.com:80/", R::UrlInvalid),
            (" https://api.github.com/repos", R::UrlNotCanonical),
            ("https://api.git\thub.com/", R::UrlNotCanonical),
            ("https://%61pi.github.com/", R::UrlNotCanonical),
            ("https://ａｐｉ.github.com/", R::UrlNotCanonical),
            ("https://api.github.com./", R::UrlNotCanonical),
            ("https://api.github.com:8443/", R::PortNotAllowed),
            ("https://api.github.com:65536/", R::UrlInvalid),
            ("https://api.github.com:４４３/", R::UrlNotCanonical),
            ("http://127.0.0.1:11211:80/", R::UrlInvalid),
            ("file:///etc/passwd", R::SchemeNotAllowed),
            ("gopher://api.github.com:443/_GET", R::SchemeNotAllowed),
            ("data:text/plain;base64,SGVsbG8=", R::SchemeNotAllowed),
            ("jar:http://127.0.0.1!/", R::SchemeNotAllowed),
            ("http://127.0.0.1:22", R::IpNotAllowed),
            ("http://[::1]/", R::IpNotAllowed),
            ("http://[0000::1]:80/", R::IpNotAllowed),
            ("http://[::ffff:127.0.0.1]", R::IpNotAllowed),
            ("http://2130706433/", R::UrlNotCanonical),
            ("http://0x7f.1/", R::UrlNotCanonical),
            ("http://127.1", R::UrlNotCanonical),
            ("http://0251.254.169.254", R::UrlNotCanonical),
            ("http://0/", R::UrlNotCanonical),
            ("http://1.2.3.08", R::UrlInvalid),
            ("http://[fe80::1%25eth0]/", R::UrlNotCanonical),
            ("http://metadata/computeMetadata/v1/", R::HostNotAllowed),
            ("https://xn--pi-6kc.github.com/", R::HostNotAllowed),
        ] {
            refused(&c, url, expected);
        }
    }

    // --- rules, one by one ---

    #[test]
    fn length_limit() {
        let cfg = HttpConfig {
            allow: vec!["api.github.com".to_owned()],
            max_url_bytes: 40,
            ..HttpConfig::default()
        };
        let c = HostChecker::new(&cfg).unwrap();
        let base = "https://api.github.com/";
        let exact = format!("{base}{}", "a".repeat(40 - base.len()));
        allowed(&c, &exact);
        let over = format!("{exact}a");
        assert_eq!(c.check(&over), Err(HostError::TooLong { len: 41, max: 40 }));
        refused(&c, &over, ReasonCode::UrlTooLong);
        // The default is 8 KiB.
        let c = corpus_checker();
        let long = format!("https://api.github.com/?q={}", "a".repeat(8192));
        refused(&c, &long, ReasonCode::UrlTooLong);
        let at_limit = format!("https://api.github.com/?q={}", "a".repeat(8192 - 26));
        assert_eq!(at_limit.len(), 8192);
        allowed(&c, &at_limit);
    }

    #[test]
    fn surrounding_whitespace_and_controls() {
        let c = corpus_checker();
        for url in [
            " https://api.github.com/",
            "https://api.github.com/ ",
            "\u{a0}https://api.github.com/",
            "https://api.github.com/\u{3000}",
            "https://api.github.com/\t",
            "https://api.github.com/a\nb",
            "https://api.github.com/a\rb",
            "https://api.github.com/a\0",
            "https://api.github.com/a\u{7f}",
            "https://api.github.com/a\u{85}b",
            "https://api.github.com/?q=\u{9b}",
            "https://api.github.com/#\u{1b}",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        assert_eq!(
            c.check("https://api.github.com/a\u{85}b"),
            Err(HostError::ControlCharacter {
                offset: 24,
                ch: '\u{85}'
            })
        );
        // A space inside the path or query is percent-encoded by the serializer.
        let ok = c.check("https://api.github.com/search?q=a b").unwrap();
        assert_eq!(ok.as_str(), "https://api.github.com/search?q=a%20b");
    }

    #[test]
    fn backslash_anywhere() {
        let c = corpus_checker();
        for url in [
            "https:\\\\api.github.com\\repos",
            "https://api.github.com\\@evil.com/",
            "https://api.github.com/a\\b",
            "https://api.github.com/?q=a\\b",
            "https://api.github.com/#a\\b",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        assert_eq!(
            c.check("https://api.github.com/a\\b"),
            Err(HostError::Backslash { offset: 24 })
        );
    }

    #[test]
    fn scheme_rules() {
        let c = corpus_checker();
        allowed(&c, "https://api.github.com/");
        allowed(&c, "http://api.github.com/");
        allowed(&c, "HTTPS://API.GITHUB.COM/rate_limit");
        allowed(&c, "HtTpS://api.github.com/meta");
        for url in [
            "ftp://api.github.com/",
            "ws://api.github.com/",
            "file://api.github.com/x",
        ] {
            refused(&c, url, ReasonCode::SchemeNotAllowed);
        }
        assert_eq!(
            c.check("wss://x/"),
            Err(HostError::SchemeNotAllowed { end: 3 })
        );
        for url in [
            "",
            ":",
            "1http://api.github.com/",
            "/api.github.com",
            "ht tp://a/",
        ] {
            refused(&c, url, ReasonCode::UrlInvalid);
        }
        for url in [
            "https:api.github.com/",
            "https:/api.github.com/",
            "https:///api.github.com/",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        refused(&c, "https://", ReasonCode::UrlNotCanonical);
        refused(&c, "https://?q", ReasonCode::UrlNotCanonical);

        let https_only = HostChecker::new(&HttpConfig {
            schemes: vec!["https".to_owned()],
            allow: vec!["api.github.com".to_owned()],
            ..HttpConfig::default()
        })
        .unwrap();
        allowed(&https_only, "https://api.github.com/");
        refused(
            &https_only,
            "http://api.github.com/",
            ReasonCode::SchemeNotAllowed,
        );
    }

    #[test]
    fn userinfo_in_any_form() {
        let c = corpus_checker();
        for url in [
            "https://user@api.github.com/",
            "https://user:pw@api.github.com/",
            "https://:@api.github.com/",
            "https://@api.github.com/",
            "https://:pw@api.github.com/",
            "https://api.github.com:443@evil.com/",
            "https://a@b@api.github.com/",
        ] {
            refused(&c, url, ReasonCode::UserinfoPresent);
        }
        assert_eq!(
            c.check("https://@api.github.com/"),
            Err(HostError::UserinfoPresent { offset: 8 })
        );
        // `@` after the authority is path, query or fragment.
        allowed(&c, "https://api.github.com/@evil.com");
        allowed(&c, "https://api.github.com?@evil.com");
        allowed(&c, "https://api.github.com#@evil.com/");
    }

    #[test]
    fn authority_must_be_plain_ascii() {
        let c = corpus_checker();
        assert_eq!(
            c.check("https://api.githüb.com/"),
            Err(HostError::NonAsciiAuthority {
                offset: 16,
                ch: 'ü'
            })
        );
        assert_eq!(
            c.check("https://%61pi.github.com/"),
            Err(HostError::PercentInAuthority { offset: 8 })
        );
        refused(
            &c,
            "https://api.github.com:%34%34%33/",
            ReasonCode::UrlNotCanonical,
        );
        refused(
            &c,
            "https://api.git\u{200b}hub.com/",
            ReasonCode::UrlNotCanonical,
        );
        refused(
            &c,
            "https://api.github.com\u{3002}/",
            ReasonCode::UrlNotCanonical,
        );
        // Non-ASCII and percent-encoding after the authority are fine.
        allowed(&c, "https://docs.internal.example/search?q=日本語");
        allowed(&c, "https://docs.internal.example/files/with%20space.pdf");
        allowed(
            &c,
            "https://api.github.com/repos/o/r/contents/..%2f..%2fetc%2fpasswd",
        );
        allowed(&c, "https://api.github.com/caf%C3%A9#r%C3%A9sum%C3%A9");
    }

    #[test]
    fn host_text_must_be_what_whatwg_keeps() {
        let c = checker(&["api.github.com", "*.example.com", "0.0.0.0/0", "::/0"]);
        // Case is the only change allowed.
        allowed(&c, "https://Api.GitHub.com/");
        allowed(&c, "https://A.EXAMPLE.COM/");
        // Numeric IPv4 shorthand, even when a CIDR covers the result.
        for url in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://127.0.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.01/",
            "http://0/",
            "http://192.168.257/",
            "https://0x.0x.0/",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        allowed(&c, "http://127.0.0.1/");
        allowed(&c, "http://8.8.8.8/");
        // IPv6 literals are compared by value: any RFC 4291 spelling is the same address.
        allowed(&c, "http://[::1]/");
        allowed(&c, "http://[0000::1]/");
        allowed(&c, "http://[2001:DB8::1]/");
        allowed(&c, "http://[::ffff:127.0.0.1]/");
        refused(&c, "http://[::1%25lo]/", ReasonCode::UrlNotCanonical);
        refused(&c, "http://[::1.2.3.4x]/", ReasonCode::UrlInvalid);
        refused(&c, "http://[::1/", ReasonCode::UrlInvalid);
        // Trailing dots and empty labels.
        assert_eq!(
            c.check("https://api.github.com./"),
            Err(HostError::EmptyLabel { offset: 22 })
        );
        for url in [
            "https://api.github.com../",
            "https://.api.github.com/",
            "https://api..github.com/",
            "https://a..example.com/",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        // Characters WHATWG accepts in a domain but no host name has.
        for url in [
            "https://a$b.example.com/",
            "https://a*b.example.com/",
            "https://*.example.com/",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        allowed(&c, "https://a_b.example.com/");
        // ACE labels pass through unchanged and are matched as written.
        refused(
            &c,
            "https://xn--pi-6kc.github.com/",
            ReasonCode::HostNotAllowed,
        );
        allowed(&c, "https://xn--bcher-kva.example.com/");
        refused(&c, "https://xn--zz.example.com/", ReasonCode::UrlInvalid);
    }

    #[test]
    fn exact_hosts() {
        let c = corpus_checker();
        allowed(&c, "https://api.github.com/repos/rust-lang/rust");
        allowed(&c, "https://docs.internal.example/a/b/../c.html");
        for url in [
            "https://github.com/",
            "https://www.api.github.com/",
            "https://evilapi.github.com/",
            "https://api.github.com.evil.com/",
            "https://api-github.com/",
            "https://internal.example/",
            "https://evil.com/?host=api.github.com",
            "https://evil.com#api.github.com",
        ] {
            refused(&c, url, ReasonCode::HostNotAllowed);
        }
        assert_eq!(
            c.check("https://evil.com/"),
            Err(HostError::HostNotAllowed { start: 8, end: 16 })
        );
    }

    #[test]
    fn wildcard_semantics() {
        let c = checker(&["*.example.com"]);
        allowed(&c, "https://a.example.com/");
        allowed(&c, "https://a.b.example.com/");
        allowed(&c, "https://A.Example.COM/");
        for url in [
            "https://example.com/",
            "https://aexample.com/",
            "https://a.example.com.evil.com/",
            "https://a.example.co/",
            "https://a.xexample.com/",
        ] {
            refused(&c, url, ReasonCode::HostNotAllowed);
        }
        refused(&c, "https://a.example.com./", ReasonCode::UrlNotCanonical);
        refused(&c, "https://.example.com/", ReasonCode::UrlNotCanonical);
        refused(&c, "http://10.0.0.1/", ReasonCode::IpNotAllowed);
        // Apex and wildcard together.
        let c = checker(&["example.com", "*.example.com"]);
        allowed(&c, "https://example.com/");
        allowed(&c, "https://x.example.com/");
    }

    #[test]
    fn cidr_entries() {
        let c = checker(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "[fd00::1]"]);
        allowed(&c, "http://10.1.2.3/");
        allowed(&c, "https://10.255.255.255/");
        allowed(&c, "http://192.168.1.7/");
        allowed(&c, "http://[2001:db8::1]/");
        allowed(&c, "http://[2001:db8:ffff::]/");
        allowed(&c, "http://[fd00::1]/");
        // An IPv4-mapped literal reaches the IPv4 address and is judged as it.
        allowed(&c, "http://[::ffff:10.0.0.1]/");
        for url in [
            "http://11.0.0.1/",
            "http://192.168.1.8/",
            "http://[2001:db9::1]/",
            "http://[fd00::2]/",
            "http://[::ffff:11.0.0.1]/",
        ] {
            refused(&c, url, ReasonCode::IpNotAllowed);
        }
        assert_eq!(
            c.check("http://11.0.0.1/"),
            Err(HostError::IpNotAllowed {
                ip: IpAddr::V4(Ipv4Addr::new(11, 0, 0, 1)),
                start: 7,
                end: 15,
            })
        );
        assert_eq!(
            c.check("http://[fd00::2]:8080/").map_err(|e| e.span()),
            Err(Some((7, 16)))
        );
        // A name is never matched against a network, nor an IP against a name.
        refused(&c, "http://ten.example/", ReasonCode::HostNotAllowed);
        let names = corpus_checker();
        refused(&names, "https://140.82.112.6/", ReasonCode::IpNotAllowed);
    }

    #[test]
    fn ports() {
        let c = checker(&[
            "api.github.com",
            "internal.example:8443",
            "both.example",
            "both.example:8080",
            "*.svc.example:9000",
            "10.0.0.0/8:8443",
            "[2001:db8::/32]:8443",
        ]);
        allowed(&c, "https://api.github.com/");
        allowed(&c, "https://api.github.com:443/");
        allowed(&c, "http://api.github.com:80/");
        refused(&c, "http://api.github.com:443/", ReasonCode::PortNotAllowed);
        refused(&c, "https://api.github.com:80/", ReasonCode::PortNotAllowed);
        assert_eq!(
            c.check("https://api.github.com:8443/"),
            Err(HostError::PortNotAllowed { port: 8443 })
        );
        // A named port allows that port only.
        allowed(&c, "https://internal.example:8443/");
        allowed(&c, "http://internal.example:8443/");
        refused(&c, "https://internal.example/", ReasonCode::PortNotAllowed);
        allowed(&c, "https://both.example/");
        allowed(&c, "https://both.example:8080/");
        refused(&c, "https://both.example:8081/", ReasonCode::PortNotAllowed);
        allowed(&c, "https://a.svc.example:9000/");
        refused(&c, "https://a.svc.example/", ReasonCode::PortNotAllowed);
        allowed(&c, "https://10.0.0.1:8443/");
        refused(&c, "https://10.0.0.1/", ReasonCode::PortNotAllowed);
        allowed(&c, "https://[2001:db8::5]:8443/");
        refused(&c, "https://[2001:db8::5]/", ReasonCode::PortNotAllowed);
        // Ports must be written canonically.
        for url in [
            "https://api.github.com:/",
            "https://api.github.com:0443/",
            "https://internal.example:08443/",
        ] {
            refused(&c, url, ReasonCode::UrlNotCanonical);
        }
        refused(&c, "https://api.github.com:0/", ReasonCode::PortNotAllowed);
        refused(&c, "https://api.github.com:-1/", ReasonCode::UrlInvalid);
        refused(&c, "https://api.github.com:+443/", ReasonCode::UrlInvalid);
        refused(&c, "https://api.github.com:99999/", ReasonCode::UrlInvalid);
        refused(&c, "https://[2001:db8::5]x/", ReasonCode::UrlInvalid);
        let checked = c.check("https://internal.example:8443/x").unwrap();
        assert_eq!(checked.port(), 8443);
        assert_eq!(c.check("http://api.github.com/").unwrap().port(), 80);
    }

    #[test]
    fn checked_url_accessors() {
        let c = checker(&["api.github.com", "10.0.0.0/8"]);
        let checked = c
            .check("HTTPS://API.GITHUB.COM:443/a/./b?q=日本#frag")
            .unwrap();
        assert_eq!(
            checked.as_str(),
            "https://api.github.com/a/b?q=%E6%97%A5%E6%9C%AC#frag"
        );
        assert_eq!(checked.host(), Host::Domain("api.github.com"));
        assert_eq!(checked.port(), 443);
        assert!(checked.addrs().is_empty());
        assert_eq!(checked.url().path(), "/a/b");
        let checked = c.check("http://10.0.0.1/").unwrap();
        assert_eq!(
            checked.host(),
            Host::<&str>::Ipv4(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(checked.into_url().as_str(), "http://10.0.0.1/");
    }

    #[test]
    fn reasons_carry_spans_and_no_url_text() {
        let c = corpus_checker();
        let secret_url = "https://ghp_0123456789abcdefghijklmnopqrstuvwxyzAB.evil.com/";
        let reason = c.check(secret_url).unwrap_err().to_reason();
        assert_eq!(reason.code, ReasonCode::HostNotAllowed);
        assert_eq!(
            reason.span,
            Some(crate::verdict::Span { start: 8, end: 59 })
        );
        assert!(!reason.message.contains("ghp_"), "{}", reason.message);
        let reason = c
            .check("https://user:hunter2@api.github.com/")
            .unwrap_err()
            .to_reason();
        assert!(!reason.message.contains("hunter2"), "{}", reason.message);
        assert_eq!(
            reason.span,
            Some(crate::verdict::Span { start: 20, end: 21 })
        );
        let reason = c
            .check("https://api.github.com:1/")
            .unwrap_err()
            .to_reason();
        assert_eq!(reason.span, None);
        assert_eq!(reason.message, "port 1 is not allowed for this host");
    }

    // --- configuration ---

    #[test]
    fn config_defaults_and_serde() {
        let d = HttpConfig::default();
        assert_eq!(d.schemes, ["https", "http"]);
        assert!(d.allow.is_empty());
        assert_eq!(d.max_url_bytes, 8192);
        assert!(!d.resolve_dns);
        let c = HostChecker::new(&d).unwrap();
        refused(&c, "https://api.github.com/", ReasonCode::HostNotAllowed);
        assert!(!c.resolves_dns());

        let parsed: HttpConfig = toml::from_str(r#"allow = ["api.github.com"]"#).unwrap();
        assert_eq!(
            parsed,
            HttpConfig {
                allow: vec!["api.github.com".to_owned()],
                ..d
            }
        );
        assert!(toml::from_str::<HttpConfig>("allowed = []").is_err());
    }

    #[test]
    fn config_reports_every_issue() {
        let cfg = HttpConfig {
            schemes: vec!["https".into(), "ftp".into(), "HTTP".into()],
            allow: vec![
                "api.github.com".into(),               // 0 ok
                "".into(),                             // 1
                "https://api.github.com".into(),       // 2
                "api.github.com.".into(),              // 3
                "api.*.com".into(),                    // 4
                "*".into(),                            // 5
                "10.0.0.1/8".into(),                   // 6
                "10.0.0.0/33".into(),                  // 7
                "host:0".into(),                       // 8
                "host:65536".into(),                   // 9
                "host:".into(),                        // 10
                "bücher.example".into(),               // 11
                "127.1".into(),                        // 12
                "a b.example".into(),                  // 13
                "[10.0.0.1]".into(),                   // 14
                "[::1".into(),                         // 15
                "[::1]x".into(),                       // 16
                "-bad.example".into(),                 // 17
                "user@api.github.com".into(),          // 18
                "xn--zz.example".into(),               // 19
                format!("{}.example", "a".repeat(64)), // 20
                "*.example.com:8443".into(),           // 21 ok
                "[2001:db8::1]:8443".into(),           // 22 ok
                "2001:db8::/32".into(),                // 23 ok
                "10.0.0.0/8:8443".into(),              // 24 ok
                "foo.0x1f".into(),                     // 25
            ],
            max_url_bytes: 0,
            resolve_dns: false,
            grantable: vec!["api.example.com".into(), "https://x.example".into()],
        };
        let issues = HostChecker::new(&cfg).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        let mut expected = vec![
            "http.schemes[1]".to_owned(),
            "http.max_url_bytes".to_owned(),
        ];
        expected.extend(
            [
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 25,
            ]
            .iter()
            .map(|i| format!("http.allow[{i}]")),
        );
        expected.push("http.grantable[1]".to_owned());
        assert_eq!(keys, expected, "{issues:#?}");
        assert!(
            issues
                .iter()
                .any(|i| i.message.contains("did you mean `10.0.0.0/8`"))
        );

        let too_big = HttpConfig {
            max_url_bytes: MAX_URL_BYTES_LIMIT + 1,
            ..HttpConfig::default()
        };
        assert_eq!(HostChecker::new(&too_big).unwrap_err().len(), 1);
    }

    #[test]
    fn entries_are_case_insensitive_and_merge() {
        let c = checker(&[
            "API.GitHub.com",
            "api.github.com:8443",
            "*.Example.COM",
            "*.example.com",
        ]);
        allowed(&c, "https://api.github.com/");
        allowed(&c, "https://api.github.com:8443/");
        allowed(&c, "https://x.example.com/");
        assert_eq!(c.suffixes.len(), 1);
        assert_eq!(c.exact.len(), 1);
    }

    // --- addresses ---

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[rustfmt::skip]
    const FORBIDDEN: &[&str] = &[
        // IPv4
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255",
        "100.100.100.200", "127.0.0.1", "127.255.255.254", "169.254.0.1", "169.254.169.254",
        "172.16.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.192", "192.0.2.1", "192.88.99.1",
        "192.168.0.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "168.63.129.16",
        // IPv6
        "::", "::1", "fe80::1", "febf::1", "fec0::1", "fc00::1", "fd00::1", "fd00:ec2::254",
        "ff02::1", "ff0e::1", "100::1", "64:ff9b:1::1", "5f00::1", "2001:db8::1",
        "2001:db8:ffff::1", "3fff::1", "2001:2::1", "2001:10::1", "4000::1", "e000::1",
        // IPv4 embedded in IPv6: mapped, compatible, translated, NAT64, 6to4
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
        "::10.0.0.1", "::0.0.0.2", "::ffff:0:192.168.0.1", "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:0101::",
        // Teredo: server 10.0.0.1; client 127.0.0.1 (stored inverted)
        "2001:0:a00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ];

    #[rustfmt::skip]
    const PUBLIC: &[&str] = &[
        "1.1.1.1", "8.8.8.8", "140.82.112.6", "100.63.255.255", "100.128.0.0", "172.15.255.255",
        "172.32.0.0", "169.253.255.255", "169.255.0.0", "192.0.1.1", "192.167.255.255",
        "198.17.255.255", "198.20.0.0", "223.255.255.255", "11.0.0.0", "9.255.255.255",
        "126.255.255.255", "128.0.0.0", "168.63.129.17",
        "2606:4700::1111", "2001:4860:4860::8888", "2a00:1450::1", "3ffe::1", "2001:200::1",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8",
        // Teredo with a public server and client
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    ];

    #[test]
    fn forbidden_addresses() {
        for s in FORBIDDEN {
            assert!(address_forbidden(ip(s)), "{s} should be forbidden");
        }
        for s in PUBLIC {
            assert!(!address_forbidden(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn forbidden_addresses_need_a_cidr_when_resolved() {
        let c = checker(&["10.0.0.0/8", "::ffff:0:0/96"]);
        assert!(c.net_covers(ip("10.1.1.1")));
        assert!(c.net_covers(ip("::ffff:10.1.1.1")));
        assert!(!c.net_covers(ip("127.0.0.1")));
        assert!(c.net_covers(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn resolve_refuses_loopback_names() {
        // `localhost` resolves through /etc/hosts, so this needs no network.
        let c = checker(&["localhost"]);
        let checked = c.check("http://localhost/").unwrap();
        let err = c.resolve(&checked).unwrap_err();
        assert_eq!(err.code(), ReasonCode::ResolvedAddressForbidden);
        assert!(err.to_string().contains("`localhost`"), "{err}");

        // A CIDR entry vouches for the addresses.
        let c = checker(&["localhost", "127.0.0.0/8", "::1"]);
        let checked = c.check("http://localhost:80/").unwrap();
        let addrs = c.resolve(&checked).unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80),
            "{addrs:?}"
        );

        // With resolve_dns the check itself resolves.
        let cfg = HttpConfig {
            allow: vec!["localhost".to_owned()],
            resolve_dns: true,
            ..HttpConfig::default()
        };
        let c = HostChecker::new(&cfg).unwrap();
        assert!(c.resolves_dns());
        refused(
            &c,
            "http://localhost/",
            ReasonCode::ResolvedAddressForbidden,
        );
        let cfg = HttpConfig {
            allow: vec!["localhost".into(), "127.0.0.0/8".into(), "::1".into()],
            ..cfg
        };
        let c = HostChecker::new(&cfg).unwrap();
        let checked = c.check("https://localhost/").unwrap();
        assert!(!checked.addrs().is_empty());
        assert!(checked.addrs().iter().all(|a| a.port() == 443));
    }

    #[test]
    fn resolve_ip_literals_and_failures() {
        let c = checker(&["10.0.0.0/8", "nonexistent.invalid"]);
        let checked = c.check("http://10.1.2.3:80/").unwrap();
        assert_eq!(
            c.resolve(&checked).unwrap(),
            vec![SocketAddr::from(([10, 1, 2, 3], 80))]
        );
        // `.invalid` never resolves (RFC 6761).
        let checked = c.check("https://nonexistent.invalid/").unwrap();
        let err = c.resolve(&checked).unwrap_err();
        assert_eq!(err.code(), ReasonCode::DnsResolutionFailed);
    }
}
