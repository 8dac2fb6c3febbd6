//! Generating a managed key: key pair, Auth0-shaped certificate and artifacts, sealed private
//! key. CPU-bound; the engine runs it off the async threads.

use std::time::{Duration, SystemTime};

use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, KeySpec, PrivateKey, signer_for,
};

use crate::Error;
use crate::clock::millis;
use crate::seal::{self, Kek, KeyIdentity};
use crate::store::{KeyRecord, KeyState};

/// What to generate.
pub(crate) struct KeyRequest<'a> {
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub key_id: &'a str,
    pub algorithm: Algorithm,
    pub bits: u32,
    /// The credential's lifetime: its certificate's validity and Auth0 `expires_at`.
    pub lifetime: Option<Duration>,
}

/// Generates and seals a key for `req` under `kek`.
pub(crate) fn generate(req: &KeyRequest<'_>, kek: &Kek, now: SystemTime) -> Result<KeyRecord, Error> {
    let bits = (req.bits != 0).then_some(req.bits as usize);
    let spec = KeySpec::for_algorithm(req.algorithm, bits)?;
    let key = match Backend::fastest() {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => keyward_crypto::aws_lc_generate(spec)?,
        _ => PrivateKey::generate(spec, &mut crate::rng::os_rng())?,
    };
    let signer = signer_for(Backend::fastest(), &key, Algorithm::for_certificate(key.kind()))?;
    let mut params = CertificateParams::new(common_name(req.client_id), now);
    if let Some(l) = req.lifetime {
        params.lifetime = l;
    }
    let cert = Certificate::self_signed(&*signer, &params, &mut crate::rng::os_rng())?;
    let art = CertArtifacts::from_certificate(&cert, Some(req.algorithm))?;
    let who = KeyIdentity { tenant: req.tenant, client_id: req.client_id, key_id: req.key_id };
    let sealed = seal::seal(kek, who, &key.to_pkcs8_der()?, &mut crate::rng::os_rng())?;
    let created_at = millis(now);
    Ok(KeyRecord {
        key_id: req.key_id.to_owned(),
        tenant: req.tenant.to_owned(),
        client_id: req.client_id.to_owned(),
        kid: art.kid,
        algorithm: req.algorithm,
        key_bits: match spec {
            KeySpec::P256 => 256,
            KeySpec::P384 => 384,
            _ => req.bits,
        },
        public_key_pem: key.public_key().to_spki_pem()?,
        cert_pem: art.cert,
        pkcs: art.pkcs,
        fingerprint: art.fingerprint,
        thumbprint: art.thumbprint,
        thumbprint_sha256: art.thumbprint_sha256,
        subject_dn: art.subject_dn,
        sealed,
        credential_id: None,
        state: KeyState::Pending,
        created_at,
        expires_at: req.lifetime.map(|l| created_at / 1000 * 1000 + i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
        activated_at: None,
        retire_at: None,
        last_signed_exp: None,
    })
}

/// The certificate's CN: the client id, cut to X.520's 64 characters.
fn common_name(client_id: &str) -> String {
    client_id.chars().take(64).collect()
}
