//! Verifying a tenant signing key as Auth0 returned it, with keyward's own crypto: the
//! certificate parses and is self-signed with CN = the tenant's domain, `fingerprint` and
//! `thumbprint` are its SHA-1, `pkcs7` holds exactly it, and `kid` is set. Pure: no I/O.

use keyward_auth0::{SigningKey, SigningKeyDate};
use keyward_crypto::{Certificate, PemBlock, certificates_from_pkcs7, fingerprint, thumbprint};
use serde::{Deserialize, Serialize};

/// A tenant signing key as Auth0 returned it, with keyward's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedSigningKey {
    /// Auth0's key id.
    pub kid: String,
    /// Certificate PEM.
    pub cert: String,
    /// PKCS#7 PEM.
    pub pkcs7: String,
    /// SHA-1 fingerprint, as Auth0 reported it.
    pub fingerprint: String,
    /// SHA-1 thumbprint, as Auth0 reported it.
    pub thumbprint: String,
    /// Status flags.
    pub current: bool,
    /// Status flags.
    pub next: bool,
    /// Status flags.
    pub previous: bool,
    /// Status flags.
    pub revoked: bool,
    /// As Auth0 reported it, when a string.
    pub current_since: Option<String>,
    /// As Auth0 reported it, when a string.
    pub current_until: Option<String>,
    /// As Auth0 reported it, when a string.
    pub revoked_at: Option<String>,
    /// What failed verification, one line per check; empty when the key verified.
    pub problems: Vec<String>,
}

impl VerifiedSigningKey {
    /// `current`, `next`, `previous`, `revoked` (or `unknown` when Auth0 set no flag).
    pub fn status(&self) -> &'static str {
        match (self.current, self.next, self.previous, self.revoked) {
            (_, _, _, true) => "revoked",
            (true, ..) => "current",
            (_, true, ..) => "next",
            (_, _, true, _) => "previous",
            _ => "unknown",
        }
    }
}

fn date(d: Option<&SigningKeyDate>) -> Option<String> {
    d.and_then(SigningKeyDate::as_str).map(str::to_owned)
}

/// Checks one key; `domain` is the tenant's (the certificate's expected CN).
pub fn verify_signing_key(k: &SigningKey, domain: &str) -> VerifiedSigningKey {
    let mut problems = Vec::new();
    if k.kid.trim().is_empty() {
        problems.push("kid is empty".to_owned());
    } else if k.kid.len() > 128 || k.kid.chars().any(|c| c.is_control()) {
        problems.push("kid is longer than 128 characters or holds control characters".to_owned());
    }
    match Certificate::from_pem(&k.cert) {
        Err(e) => problems.push(format!("cert does not parse: {e}")),
        Ok(cert) => check_cert(k, &cert, domain, &mut problems),
    }
    VerifiedSigningKey {
        kid: k.kid.clone(),
        cert: k.cert.clone(),
        pkcs7: k.pkcs7.clone().unwrap_or_default(),
        fingerprint: k.fingerprint.clone().unwrap_or_default(),
        thumbprint: k.thumbprint.clone().unwrap_or_default(),
        current: k.current,
        next: k.next,
        previous: k.previous,
        revoked: k.revoked,
        current_since: date(k.current_since.as_ref()),
        current_until: date(k.current_until.as_ref()),
        revoked_at: date(k.revoked_at.as_ref()),
        problems,
    }
}

fn check_cert(k: &SigningKey, cert: &Certificate, domain: &str, problems: &mut Vec<String>) {
    let der = cert.der();
    if let Err(e) = cert.verify_self_signed() {
        problems.push(format!("cert is not self-signed: {e}"));
    }
    match cert.common_name() {
        Some(cn) if cn == domain => {}
        Some(cn) => problems.push(format!("cert CN {cn:?} is not the tenant domain {domain:?}")),
        None => problems.push(format!("cert has no CN (expected the tenant domain {domain:?})")),
    }
    match k.fingerprint.as_deref() {
        None => problems.push("fingerprint is missing".to_owned()),
        Some(f) if f != fingerprint(der) => problems.push("fingerprint is not the SHA-1 of the certificate".to_owned()),
        Some(_) => {}
    }
    match k.thumbprint.as_deref() {
        None => problems.push("thumbprint is missing".to_owned()),
        Some(t) if t != thumbprint(der) => problems.push("thumbprint is not the SHA-1 of the certificate".to_owned()),
        Some(_) => {}
    }
    match k.pkcs7.as_deref().map(|p| PemBlock::find(p, &["PKCS7"]).and_then(|b| certificates_from_pkcs7(&b.der))) {
        None => problems.push("pkcs7 is missing".to_owned()),
        Some(Ok(certs)) if certs == [der.to_vec()] => {}
        Some(Ok(_)) => problems.push("pkcs7 does not hold exactly the certificate".to_owned()),
        Some(Err(e)) => problems.push(format!("pkcs7 does not parse: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use keyward_crypto::{
        Algorithm, Backend, CertificateParams, KeySpec, aws_lc_generate, degenerate_pkcs7, pem_crlf, signer_for,
    };

    use super::*;

    const DOMAIN: &str = "dev.keyward.local";

    fn key(cn: &str) -> SigningKey {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let private = aws_lc_generate(KeySpec::Rsa(2048)).unwrap();
        let signer = signer_for(Backend::fastest(), &private, Algorithm::RS256).unwrap();
        let cert = Certificate::self_signed(signer.as_ref(), &CertificateParams::new(cn, SystemTime::now()), &mut rng)
            .unwrap();
        let der = cert.der().to_vec();
        SigningKey {
            kid: "xCjTTTG-z1h76pkzCGq-f".into(),
            cert: cert.to_pem_crlf().unwrap(),
            pkcs7: Some(pem_crlf("PKCS7", &degenerate_pkcs7(&der).unwrap()).unwrap()),
            current: true,
            next: false,
            previous: false,
            revoked: false,
            current_since: Some(SigningKeyDate::Text("2026-01-01T00:00:00.000Z".into())),
            current_until: None,
            revoked_at: None,
            fingerprint: Some(fingerprint(&der)),
            thumbprint: Some(thumbprint(&der)),
        }
    }

    #[test]
    fn an_auth0_shaped_key_verifies() {
        let v = verify_signing_key(&key(DOMAIN), DOMAIN);
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(v.status(), "current");
        assert_eq!(v.current_since.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    }

    #[test]
    fn each_tampered_field_is_named() {
        let good = key(DOMAIN);
        let other = key(DOMAIN);
        let cases: Vec<(&str, SigningKey)> = vec![
            ("kid is empty", SigningKey { kid: " ".into(), ..good.clone() }),
            ("cert does not parse", SigningKey { cert: good.cert.replace("MII", "MIJ"), ..good.clone() }),
            ("fingerprint is not the SHA-1", SigningKey { fingerprint: other.fingerprint.clone(), ..good.clone() }),
            ("thumbprint is not the SHA-1", SigningKey { thumbprint: other.thumbprint.clone(), ..good.clone() }),
            ("fingerprint is missing", SigningKey { fingerprint: None, ..good.clone() }),
            ("pkcs7 does not hold exactly", SigningKey { pkcs7: other.pkcs7.clone(), ..good.clone() }),
            ("pkcs7 is missing", SigningKey { pkcs7: None, ..good.clone() }),
            (
                "pkcs7 does not parse",
                SigningKey { pkcs7: Some(good.cert.replace("CERTIFICATE", "PKCS7")), ..good.clone() },
            ),
        ];
        for (want, k) in cases {
            let v = verify_signing_key(&k, DOMAIN);
            assert!(v.problems.iter().any(|p| p.starts_with(want)), "{want}: {:?}", v.problems);
        }
        let v = verify_signing_key(&key("evil.example"), DOMAIN);
        assert_eq!(v.problems, vec![format!("cert CN \"evil.example\" is not the tenant domain \"{DOMAIN}\"")]);
    }

    #[test]
    fn a_certificate_signed_by_another_key_is_not_self_signed() {
        // Swap the signature of one certificate for another's: still parses, no longer verifies.
        let a = Certificate::from_pem(&key(DOMAIN).cert).unwrap();
        let b = Certificate::from_pem(&key(DOMAIN).cert).unwrap();
        let (da, db) = (a.der().to_vec(), b.der());
        // Both are RSA-2048 with sha256WithRSA: the last 256 bytes are the signature.
        let mut forged = da.clone();
        let n = forged.len();
        forged[n - 256..].copy_from_slice(&db[db.len() - 256..]);
        let forged = Certificate::from_der(&forged).unwrap();
        let mut k = key(DOMAIN);
        k.cert = forged.to_pem_crlf().unwrap();
        k.fingerprint = Some(fingerprint(forged.der()));
        k.thumbprint = Some(thumbprint(forged.der()));
        k.pkcs7 = Some(pem_crlf("PKCS7", &degenerate_pkcs7(forged.der()).unwrap()).unwrap());
        let v = verify_signing_key(&k, DOMAIN);
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert!(v.problems[0].starts_with("cert is not self-signed"), "{:?}", v.problems);
    }
}
