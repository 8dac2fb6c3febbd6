//! Criterion benches for the crypto core: key generation per size, sign and verify per
//! algorithm and backend, certificate and PKCS#7 building, thumbprints.
//!
//! `cargo bench --bench crypto`; `benches/bench-sign.sh` compares signing with `openssl speed`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, KeySpec, PrivateKey, degenerate_pkcs7,
    fingerprint, signer_for, thumbprint_sha256, verify_signature,
};

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn backends() -> Vec<Backend> {
    [Backend::RustCrypto, Backend::AwsLc].into_iter().filter(|b| b.is_available()).collect()
}

fn key(spec: KeySpec) -> PrivateKey {
    #[cfg(feature = "aws-lc")]
    return keyward_crypto::aws_lc_generate(spec).unwrap();
    #[cfg(not(feature = "aws-lc"))]
    PrivateKey::generate(spec, &mut rng()).unwrap()
}

fn key_for(alg: Algorithm) -> PrivateKey {
    key(match alg {
        Algorithm::ES256 => KeySpec::P256,
        Algorithm::ES384 => KeySpec::P384,
        _ => KeySpec::Rsa(2048),
    })
}

/// A client assertion's signing input is about 300 bytes.
const MESSAGE: [u8; 300] = [b'k'; 300];

fn sign_and_verify(c: &mut Criterion) {
    let mut sign = c.benchmark_group("sign");
    for alg in Algorithm::ALL {
        let key = key_for(alg);
        for backend in backends() {
            let signer = signer_for(backend, &key, alg).unwrap();
            let mut r = rng();
            sign.bench_function(BenchmarkId::new(alg.as_str(), backend), |b| {
                b.iter(|| signer.sign(&mut r, black_box(&MESSAGE)).unwrap())
            });
        }
    }
    sign.finish();

    let mut verify = c.benchmark_group("verify");
    for alg in Algorithm::ALL {
        let key = key_for(alg);
        let public = key.public_key();
        let sig = signer_for(Backend::RustCrypto, &key, alg).unwrap().sign(&mut rng(), &MESSAGE).unwrap();
        verify.bench_function(BenchmarkId::new(alg.as_str(), "rustcrypto"), |b| {
            b.iter(|| verify_signature(alg, &public, black_box(&MESSAGE), &sig).unwrap())
        });
        #[cfg(feature = "aws-lc")]
        verify.bench_function(BenchmarkId::new(alg.as_str(), "aws-lc"), |b| {
            b.iter(|| keyward_crypto::aws_lc_verify(alg, &public, black_box(&MESSAGE), &sig).unwrap())
        });
    }
    verify.finish();
}

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for spec in [KeySpec::P256, KeySpec::P384, KeySpec::Rsa(2048), KeySpec::Rsa(3072), KeySpec::Rsa(4096)] {
        let name = format!("{}", spec.kind());
        g.bench_function(BenchmarkId::new(name.clone(), "rustcrypto"), |b| {
            b.iter(|| PrivateKey::generate(spec, &mut rng()).unwrap())
        });
        #[cfg(feature = "aws-lc")]
        g.bench_function(BenchmarkId::new(name, "aws-lc"), |b| {
            b.iter(|| keyward_crypto::aws_lc_generate(spec).unwrap())
        });
    }
    g.finish();
}

fn certificates(c: &mut Criterion) {
    let mut g = c.benchmark_group("certificate");
    for spec in [KeySpec::Rsa(2048), KeySpec::P256] {
        let key = key(spec);
        let signer = signer_for(Backend::fastest(), &key, Algorithm::for_certificate(key.kind())).unwrap();
        let params = CertificateParams::new("Bench-Connection", SystemTime::now());
        let name = format!("{}", spec.kind());
        g.bench_function(BenchmarkId::new("self_signed", &name), |b| {
            b.iter(|| Certificate::self_signed(&*signer, black_box(&params), &mut rng()).unwrap())
        });
        let cert = Certificate::self_signed(&*signer, &params, &mut rng()).unwrap();
        g.bench_function(BenchmarkId::new("pkcs7", &name), |b| {
            b.iter(|| degenerate_pkcs7(black_box(cert.der())).unwrap())
        });
        g.bench_function(BenchmarkId::new("artifacts", &name), |b| {
            b.iter(|| CertArtifacts::from_certificate(black_box(&cert), None).unwrap())
        });
        g.bench_function(BenchmarkId::new("fingerprint_sha1", &name), |b| {
            b.iter(|| fingerprint(black_box(cert.der())))
        });
        g.bench_function(BenchmarkId::new("thumbprint_sha256", &name), |b| {
            b.iter(|| thumbprint_sha256(black_box(cert.der())))
        });
        let public = key.public_key();
        g.bench_function(BenchmarkId::new("jwk_thumbprint", &name), |b| {
            b.iter(|| black_box(&public).thumbprint().unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, sign_and_verify, certificates, keygen);
criterion_main!(benches);
