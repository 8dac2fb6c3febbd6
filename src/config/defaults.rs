//! `[defaults]`: what a rotation uses unless the request says otherwise: the grace period
//! (`KEYWARD_DEFAULT_GRACE_PERIOD` overrides it), the algorithm and the RSA key size.

use std::time::Duration;

use keyward_crypto::{Algorithm, KeySpec};
use serde::Deserialize;

use super::source::{Env, Setting};

/// The defaults the issue names: a 10-minute grace period, RS256, 2048 bits.
pub(super) const DEFAULT_GRACE: Duration = Duration::from_secs(600);

const GRACE_PERIOD: Setting = Setting::env("defaults.grace_period", "KEYWARD_DEFAULT_GRACE_PERIOD");

#[derive(Debug, Default, Deserialize)]
pub(super) struct DefaultsFile {
    grace_period: Option<String>,
    algorithm: Option<String>,
    key_bits: Option<u32>,
}

/// Rotation defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// How long an old key stays attached after its successor is active.
    pub grace_period: Duration,
    /// RS256, RS384 or PS256.
    pub algorithm: Algorithm,
    /// 2048, 3072 or 4096.
    pub key_bits: u32,
}

/// Resolves `[defaults]` with its variable, reporting every problem.
pub(super) fn resolve(file: Option<DefaultsFile>, env: &Env, errors: &mut Vec<String>) -> Defaults {
    let d = file.unwrap_or_default();
    let grace_period = GRACE_PERIOD.pick(None, env, d.grace_period.as_deref()).duration(DEFAULT_GRACE, errors);
    let algorithm = match d.algorithm.as_deref() {
        None => Algorithm::RS256,
        Some(a) => match a.parse::<Algorithm>() {
            Ok(alg) if alg.is_client_credential_alg() => alg,
            _ => {
                errors.push(format!("defaults.algorithm: {a:?} is not one of RS256, RS384, PS256"));
                Algorithm::RS256
            }
        },
    };
    let key_bits = d.key_bits.unwrap_or(2048);
    if KeySpec::rsa(key_bits as usize).is_err() {
        errors.push(format!("defaults.key_bits: {key_bits} is not 2048, 3072 or 4096"));
    }
    Defaults { grace_period, algorithm, key_bits }
}
