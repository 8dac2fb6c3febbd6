//! Interop with the `openssl` command line, an implementation we did not write: it must accept
//! our certificates, PKCS#7, fingerprints and signatures, and we must accept its keys and
//! signatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use keyward_crypto::{
    Algorithm, CertArtifacts, Certificate, CertificateParams, KeyKind, PemBlock, PrivateKey, PublicKey,
    certificates_from_pkcs7, signer_for, verify_signature,
};

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command must be installed (.ci/run installs it)");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn certificate_for(key: &PrivateKey, name: &str) -> Certificate {
    let signer = signer_for(keyward_crypto::Backend::RustCrypto, key, Algorithm::for_certificate(key.kind())).unwrap();
    Certificate::self_signed(&*signer, &CertificateParams::new(name, SystemTime::now()), &mut common::os_rng()).unwrap()
}

#[test]
fn openssl_accepts_our_certificates_pkcs7_and_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    for key in common::keys() {
        let cert = certificate_for(key, "Test-Connection-1748625726");
        let art = CertArtifacts::from_certificate(&cert, None).unwrap();
        write(dir.path(), "cert.pem", &art.cert);
        write(dir.path(), "p7.pem", &art.pkcs);

        let fp = openssl(&["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"], dir.path());
        assert_eq!(fp.trim().split_once('=').unwrap().1, art.fingerprint);
        assert_eq!(art.thumbprint, art.fingerprint.replace(':', ""));

        let verify = openssl(&["verify", "-CAfile", "cert.pem", "cert.pem"], dir.path());
        assert!(verify.contains("cert.pem: OK"), "{verify}");

        let printed = openssl(&["pkcs7", "-in", "p7.pem", "-print_certs"], dir.path());
        let inner = PemBlock::find(&printed, &["CERTIFICATE"]).unwrap();
        assert_eq!(inner.der.as_slice(), cert.der());

        let text = openssl(&["x509", "-in", "cert.pem", "-noout", "-text"], dir.path());
        for expected in [
            "Version: 3 (0x2)",
            "Issuer: CN = Test-Connection-1748625726",
            "Subject: CN = Test-Connection-1748625726",
            "X509v3 Basic Constraints: critical",
            "CA:TRUE",
            "X509v3 Subject Key Identifier",
            "X509v3 Key Usage: critical",
            "Digital Signature, Certificate Sign",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let sig_alg = match key.kind() {
            KeyKind::Rsa { .. } => "sha256WithRSAEncryption",
            KeyKind::P256 => "ecdsa-with-SHA256",
            KeyKind::P384 => "ecdsa-with-SHA384",
        };
        assert!(text.contains(&format!("Signature Algorithm: {sig_alg}")), "{text}");
        // The serial is exactly 9 bytes: nine colon-separated hex pairs.
        let serial = openssl(&["x509", "-in", "cert.pem", "-noout", "-serial"], dir.path());
        assert_eq!(serial.trim().trim_start_matches("serial=").len(), 18, "{serial}");

        // openssl derives the same SPKI from our private key PEM.
        write(dir.path(), "private.pem", key.to_pkcs8_pem().unwrap().as_bytes());
        let spki = openssl(&["pkey", "-in", "private.pem", "-pubout"], dir.path());
        assert_eq!(PublicKey::from_pem(&spki).unwrap(), key.public_key());
        assert_eq!(spki, key.public_key().to_spki_pem().unwrap());
    }
}

#[test]
fn unicode_common_name_is_utf8string() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate_for(&common::keys()[1], "Zürich & Co");
    write(dir.path(), "cert.pem", cert.to_pem().unwrap());
    let parsed = openssl(&["asn1parse", "-in", "cert.pem"], dir.path());
    assert!(parsed.contains("UTF8STRING"), "{parsed}");
    let printable = certificate_for(&common::keys()[1], "plain-name");
    write(dir.path(), "cert.pem", printable.to_pem().unwrap());
    let parsed = openssl(&["asn1parse", "-in", "cert.pem"], dir.path());
    assert!(parsed.contains("PRINTABLESTRING") && !parsed.contains("UTF8STRING"), "{parsed}");
    assert_eq!(cert.common_name().as_deref(), Some("Zürich & Co"));
}

/// openssl dgst flags for an algorithm.
fn dgst_args(alg: Algorithm) -> Vec<&'static str> {
    let (hash, pss_salt) = match alg {
        Algorithm::RS256 | Algorithm::ES256 => ("-sha256", None),
        Algorithm::RS384 | Algorithm::ES384 => ("-sha384", None),
        Algorithm::RS512 => ("-sha512", None),
        Algorithm::PS256 => ("-sha256", Some("rsa_pss_saltlen:32")),
        Algorithm::PS384 => ("-sha384", Some("rsa_pss_saltlen:48")),
    };
    let mut args = vec!["dgst", hash];
    if let Some(salt) = pss_salt {
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", salt]);
    }
    args
}

fn to_der_if_ec(alg: Algorithm, sig: &[u8]) -> Vec<u8> {
    match alg {
        Algorithm::ES256 => p256::ecdsa::Signature::from_slice(sig).unwrap().to_der().as_bytes().to_vec(),
        Algorithm::ES384 => p384::ecdsa::Signature::from_slice(sig).unwrap().to_der().as_bytes().to_vec(),
        _ => sig.to_vec(),
    }
}

fn from_der_if_ec(alg: Algorithm, sig: &[u8]) -> Vec<u8> {
    match alg {
        Algorithm::ES256 => p256::ecdsa::Signature::from_der(sig).unwrap().to_bytes().to_vec(),
        Algorithm::ES384 => p384::ecdsa::Signature::from_der(sig).unwrap().to_bytes().to_vec(),
        _ => sig.to_vec(),
    }
}

#[test]
fn signatures_interoperate_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ0ZXN0In0";
    write(dir.path(), "msg", msg);
    for alg in Algorithm::ALL {
        let key = common::key_for(alg);
        write(dir.path(), "private.pem", key.to_pkcs8_pem().unwrap().as_bytes());
        write(dir.path(), "public.pem", key.public_key().to_spki_pem().unwrap());
        let dgst = dgst_args(alg);

        // Ours → OpenSSL, for each backend.
        for backend in common::backends() {
            let sig = signer_for(backend, key, alg).unwrap().sign(&mut common::os_rng(), msg).unwrap();
            write(dir.path(), "sig", to_der_if_ec(alg, &sig));
            let mut args = dgst.clone();
            args.extend(["-verify", "public.pem", "-signature", "sig", "msg"]);
            let out = openssl(&args, dir.path());
            assert!(out.contains("Verified OK"), "{alg} {backend}: {out}");
        }

        // OpenSSL → ours, under both backends' verifiers.
        let mut args = dgst.clone();
        args.extend(["-sign", "private.pem", "-out", "osig", "msg"]);
        openssl(&args, dir.path());
        let osig = from_der_if_ec(alg, &std::fs::read(dir.path().join("osig")).unwrap());
        verify_signature(alg, &key.public_key(), msg, &osig).unwrap();
        #[cfg(feature = "aws-lc")]
        keyward_crypto::aws_lc_verify(alg, &key.public_key(), msg, &osig).unwrap();
    }
}

#[test]
fn keys_generated_by_openssl_import_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], KeyKind)] = &[
        (
            &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k.pem"],
            KeyKind::Rsa { bits: 2048 },
        ),
        (&["genrsa", "-traditional", "-out", "k.pem", "3072"], KeyKind::Rsa { bits: 3072 }),
        (&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "k.pem"], KeyKind::P256),
        (&["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "k.pem"], KeyKind::P384),
        (&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem"], KeyKind::P256),
    ];
    for (args, kind) in cases {
        openssl(args, dir.path());
        let pem = std::fs::read_to_string(dir.path().join("k.pem")).unwrap();
        let key = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(key.kind(), *kind);
        let spki = openssl(&["pkey", "-in", "k.pem", "-pubout"], dir.path());
        assert_eq!(PublicKey::from_pem(&spki).unwrap(), key.public_key());
        if let KeyKind::Rsa { .. } = kind {
            let pkcs1 = openssl(&["rsa", "-in", "k.pem", "-RSAPublicKey_out"], dir.path());
            assert!(pkcs1.contains("BEGIN RSA PUBLIC KEY"));
            assert_eq!(PublicKey::from_pem(&pkcs1).unwrap(), key.public_key());
        }
    }
    // An Ed25519 key is a clear, typed refusal.
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"], dir.path());
    let pem = std::fs::read_to_string(dir.path().join("ed.pem")).unwrap();
    assert!(matches!(PrivateKey::from_pem(&pem), Err(keyward_crypto::Error::UnsupportedKeyType(_))));
}

#[test]
fn public_key_from_an_openssl_certificate() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/C=JP/O=Client/CN=client.example.org",
            "-days",
            "1",
            "-sha384",
        ],
        dir.path(),
    );
    let cert_pem = std::fs::read_to_string(dir.path().join("c.pem")).unwrap();
    let key = PrivateKey::from_pem(&std::fs::read_to_string(dir.path().join("k.pem")).unwrap()).unwrap();
    let cert = Certificate::from_pem(&cert_pem).unwrap();
    assert_eq!(cert.public_key().unwrap(), key.public_key());
    assert_eq!(PublicKey::from_pem(&cert_pem).unwrap(), key.public_key());
    assert_eq!(cert.subject_dn(), "/C=JP/O=Client/CN=client.example.org");
    cert.verify_self_signed().unwrap();
    // PKCS#7 built by openssl from that certificate holds the same certificate for us.
    openssl(&["crl2pkcs7", "-nocrl", "-certfile", "c.pem", "-out", "p7.pem"], dir.path());
    let p7 = PemBlock::find(&std::fs::read_to_string(dir.path().join("p7.pem")).unwrap(), &["PKCS7"]).unwrap();
    assert_eq!(certificates_from_pkcs7(&p7.der).unwrap(), vec![cert.der().to_vec()]);
    // And our certs-only PKCS#7 of that certificate equals openssl's byte for byte.
    assert_eq!(keyward_crypto::degenerate_pkcs7(cert.der()).unwrap(), p7.der.to_vec());
}
