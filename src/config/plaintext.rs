//! Where keyward may speak plaintext: gRPC without `[tls]` only on a loopback `listen` (unless
//! `allow_plaintext = true` says otherwise), and `http://` to Auth0 only to a loopback host.
//! Loopback is 127.0.0.0/8, `::1` and `localhost`.

use std::net::{IpAddr, SocketAddr};

/// Whether `host` (an IP address, a bracketed IPv6 address or a name) is loopback.
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).to_canonical().is_loopback(),
    }
}

/// The problem with serving gRPC on `listen`, if any: off loopback it needs `[tls]` or an
/// explicit `allow_plaintext = true` (bearer tokens, assertions and access tokens cross it).
pub(super) fn listen_problem(listen: SocketAddr, tls: bool, allow_plaintext: bool) -> Option<String> {
    if tls || allow_plaintext || listen.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "listen: {listen} is not a loopback address and there is no [tls] section: configure [tls] \
         (cert_file, key_file) or set allow_plaintext = true beside listen to serve gRPC without TLS"
    ))
}

/// The problem with a tenant's `base_url`, if any: `https://` anywhere, `http://` only to a
/// loopback host (the emulator, a local proxy). The URL itself is never echoed: it may carry
/// credentials.
pub(super) fn base_url_problem(base_url: &str) -> Option<&'static str> {
    if base_url.starts_with("https://") {
        return None;
    }
    if !base_url.starts_with("http://") {
        return Some("must start with https:// (or http:// to a loopback host)");
    }
    match url::Url::parse(base_url) {
        Ok(url) if url.host().is_some_and(|h| is_loopback_host(&h)) => None,
        Ok(_) => Some(
            "http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https:// \
             for anything else",
        ),
        Err(_) => Some("not a URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_listen_needs_loopback_tls_or_an_explicit_yes() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for loopback in ["127.0.0.1:50051", "127.9.8.7:1", "[::1]:50051", "[::ffff:127.0.0.1]:1"] {
            assert_eq!(listen_problem(addr(loopback), false, false), None, "{loopback}");
        }
        for open in ["0.0.0.0:50051", "10.1.2.3:50051", "[::]:50051", "[2001:db8::1]:1"] {
            let problem = listen_problem(addr(open), false, false).unwrap();
            assert!(problem.starts_with("listen: ") && problem.contains(open), "{problem}");
            assert!(problem.contains("[tls]") && problem.contains("allow_plaintext = true"), "{problem}");
            assert!(!problem.contains('\n'), "{problem}");
            assert_eq!(listen_problem(addr(open), true, false), None);
            assert_eq!(listen_problem(addr(open), false, true), None);
        }
    }

    #[test]
    fn http_base_urls_only_reach_loopback() {
        for ok in [
            "https://tenant.eu.auth0.com",
            "https://10.0.0.1:8443/",
            "http://127.0.0.1:4000",
            "http://127.1.2.3",
            "http://[::1]:4000/",
            "http://localhost:4000",
            "http://LOCALHOST",
        ] {
            assert_eq!(base_url_problem(ok), None, "{ok}");
        }
        for bad in [
            "http://auth0-emulator:8081",
            "http://tenant.eu.auth0.com",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://10.0.0.1",
            "http://[::]:1",
            "http://user:s3cret@proxy.example",
            "http://",
            "ftp://127.0.0.1",
            "tenant.eu.auth0.com",
        ] {
            let problem = base_url_problem(bad).unwrap_or_else(|| panic!("accepted {bad}"));
            assert!(!problem.contains("s3cret"), "{problem}");
        }
    }
}
