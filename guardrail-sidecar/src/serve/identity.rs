//! Who is calling.
//!
//! With mutual TLS the client certificate says: its first URI subject alternative name (a
//! SPIFFE ID such as `spiffe://fleet/reviewer`), else its first DNS name, else its subject
//! common name; the `x-agent-identity` header is then ignored. Without a client certificate
//! the header names the caller, but a client can write any header, so that name is *verified*
//! only when the server is told that a gateway in front of it sets the header itself
//! (`--trust-identity-header`). Only a verified identity may resolve reviews when
//! `--approver-identities` is set.

use x509_parser::extensions::GeneralName;

/// Longest identity accepted, in bytes; a longer one is cut for the audit log and never
/// verified.
pub const MAX_IDENTITY_BYTES: usize = 256;

/// The identity a DER certificate names (see the module docs), `None` when it names none or
/// does not parse.
pub fn of_certificate(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let names = &san.value.general_names;
        let uri = names.iter().find_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        });
        let dns = names.iter().find_map(|n| match n {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        });
        if let Some(name) = uri.or(dns) {
            return Some(name.to_owned());
        }
    }
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// A caller's identity as the service sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The name (cut to [`MAX_IDENTITY_BYTES`]); empty when there is none.
    pub name: String,
    /// Whether the name comes from a client certificate, or from the header behind a trusted
    /// gateway, in full.
    pub verified: bool,
}

impl Identity {
    /// From the client certificate chain when the connection has one, else from the header
    /// values (a header given more than once names no one).
    pub fn resolve<'a>(
        certificate: Option<&[u8]>,
        mut header: impl Iterator<Item = &'a str>,
        trust_header: bool,
    ) -> Identity {
        let (name, verified) = match certificate {
            Some(der) => match of_certificate(der) {
                Some(name) => (name, true),
                None => (String::new(), false),
            },
            None => match (header.next(), header.next()) {
                (Some(one), None) => (one.to_owned(), trust_header),
                _ => (String::new(), false),
            },
        };
        if name.len() > MAX_IDENTITY_BYTES {
            return Identity {
                name: truncate(&name, MAX_IDENTITY_BYTES).to_owned(),
                verified: false,
            };
        }
        Identity {
            verified: verified && !name.is_empty(),
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(sans: Vec<rcgen::SanType>, cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn truncates_at_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("ééé", 4), "éé");
    }

    #[test]
    fn certificate_names_uri_then_dns_then_common_name() {
        let uri = rcgen::SanType::URI("spiffe://fleet/reviewer".try_into().unwrap());
        let dns = rcgen::SanType::DnsName("reviewer.fleet".try_into().unwrap());
        assert_eq!(
            of_certificate(&cert(vec![dns.clone(), uri], "cn")).as_deref(),
            Some("spiffe://fleet/reviewer")
        );
        assert_eq!(
            of_certificate(&cert(vec![dns], "cn")).as_deref(),
            Some("reviewer.fleet")
        );
        assert_eq!(of_certificate(&cert(vec![], "cn")).as_deref(), Some("cn"));
        assert_eq!(of_certificate(b"not a certificate"), None);
    }

    #[test]
    fn the_certificate_wins_and_a_header_is_verified_only_behind_a_trusted_gateway() {
        let reviewer = rcgen::SanType::URI("spiffe://fleet/reviewer".try_into().unwrap());
        let agent = cert(
            vec![rcgen::SanType::URI(
                "spiffe://fleet/agent".try_into().unwrap(),
            )],
            "a",
        );
        let spoof = ["spiffe://fleet/reviewer"];
        let from_cert = Identity::resolve(Some(&agent), spoof.into_iter(), true);
        assert_eq!(from_cert.name, "spiffe://fleet/agent");
        assert!(from_cert.verified);
        let reviewer_cert = cert(vec![reviewer], "r");
        assert!(Identity::resolve(Some(&reviewer_cert), std::iter::empty(), false).verified);
        assert!(!Identity::resolve(Some(b"junk"), spoof.into_iter(), true).verified);
        let header = Identity::resolve(None, spoof.into_iter(), false);
        assert_eq!(header.name, "spiffe://fleet/reviewer");
        assert!(!header.verified);
        assert!(Identity::resolve(None, spoof.into_iter(), true).verified);
        let twice = ["spiffe://fleet/reviewer", "spiffe://fleet/agent"];
        assert_eq!(
            Identity::resolve(None, twice.into_iter(), true),
            Identity::default()
        );
        let long = "x".repeat(MAX_IDENTITY_BYTES + 1);
        let cut = Identity::resolve(None, [long.as_str()].into_iter(), true);
        assert_eq!(cut.name.len(), MAX_IDENTITY_BYTES);
        assert!(!cut.verified);
        assert!(!Identity::resolve(None, [""].into_iter(), true).verified);
    }
}
