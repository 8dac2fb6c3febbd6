//! Shared test keys and helpers: one key per kind, generated once per test binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use keyward_crypto::{Algorithm, Backend, KeyKind, KeySpec, PrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A deterministic RNG for reproducible tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The OS RNG.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// RSA-2048, P-256 and P-384 keys, generated once with the RustCrypto code.
pub fn keys() -> &'static [PrivateKey; 3] {
    static KEYS: OnceLock<[PrivateKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut r = rng(7);
        [
            PrivateKey::generate(KeySpec::Rsa(2048), &mut r).unwrap(),
            PrivateKey::generate(KeySpec::P256, &mut r).unwrap(),
            PrivateKey::generate(KeySpec::P384, &mut r).unwrap(),
        ]
    })
}

/// The test key that fits `alg`.
pub fn key_for(alg: Algorithm) -> &'static PrivateKey {
    keys().iter().find(|k| alg.fits(k.kind())).unwrap()
}

/// Every backend built into this test binary.
pub fn backends() -> Vec<Backend> {
    [Backend::RustCrypto, Backend::AwsLc].into_iter().filter(|b| b.is_available()).collect()
}

/// Every (kind, algorithm) pair that fits.
pub fn fitting(kind: KeyKind) -> Vec<Algorithm> {
    Algorithm::ALL.into_iter().filter(|a| a.fits(kind)).collect()
}
