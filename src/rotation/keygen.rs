//! Generating a managed key: key pair, Auth0-shaped certificate and artifacts, and the private
//! key either sealed for the store or made inside the PKCS#11 token (where it stays, and signs
//! the certificate). CPU-bound or a blocking token call; the engine runs it off the async
//! threads.

use std::time::{Duration, SystemTime};

use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, KeySpec, PrivateKey, Signer, signer_for,
};
use keyward_pkcs11::{Token, TokenSigner};

use crate::Error;
use crate::clock::Timestamp;
use crate::seal::{self, Kek, KeyIdentity, Sealed};
use crate::store::{KeyRecord, KeyState, TOKEN_KEY_KEK_ID};

/// What to generate.
pub(crate) struct KeyRequest<'a> {
    pub tenant: &'a str,
    pub client_id: &'a str,
    pub key_id: &'a str,
    pub algorithm: Algorithm,
    pub bits: u32,
    /// The credential's lifetime: its certificate's validity and Auth0 `expires_at`.
    pub lifetime: Option<Duration>,
    /// Make the key in this token, under this label, instead of sealing it.
    pub in_token: Option<(&'a Token, &'a str)>,
}

/// Generates a key for `req`: sealed under `kek`, or inside the token `req` names.
pub(crate) fn generate(req: &KeyRequest<'_>, kek: &Kek, now: SystemTime) -> Result<KeyRecord, Error> {
    let bits = (req.bits != 0).then_some(req.bits as usize);
    let spec = KeySpec::for_algorithm(req.algorithm, bits)?;
    let (signer, sealed): (Box<dyn Signer>, Sealed) = match req.in_token {
        None => {
            let key = match Backend::fastest() {
                #[cfg(feature = "aws-lc")]
                Backend::AwsLc => keyward_crypto::aws_lc_generate(spec)?,
                _ => PrivateKey::generate(spec, &mut crate::rng::os_rng())?,
            };
            let who = KeyIdentity { tenant: req.tenant, client_id: req.client_id, key_id: req.key_id };
            let sealed = seal::seal(kek, who, &key.to_pkcs8_der()?, &mut crate::rng::os_rng())?;
            (signer_for(Backend::fastest(), &key, Algorithm::for_certificate(key.kind()))?, sealed)
        }
        Some((token, label)) => {
            let key = token.generate_key_pair(spec, label).map_err(Error::Custody)?;
            let alg = Algorithm::for_certificate(key.kind);
            let sealed = Sealed {
                kek_id: TOKEN_KEY_KEK_ID.into(),
                wrapped_dek: Vec::new(),
                ciphertext: label.as_bytes().to_vec(),
            };
            (Box::new(TokenSigner::new(token.clone(), key, alg).map_err(Error::Custody)?), sealed)
        }
    };
    let mut params = CertificateParams::new(common_name(req.client_id), now);
    if let Some(l) = req.lifetime {
        params.lifetime = l;
    }
    let cert = Certificate::self_signed(&*signer, &params, &mut crate::rng::os_rng())?;
    let art = CertArtifacts::from_certificate(&cert, Some(req.algorithm))?;
    if let Some((token, label)) = req.in_token {
        // Found by its label, identified by its kid (as `pkcs11-tool` and HSM consoles show).
        token.set_key_id(label, art.kid.as_bytes()).map_err(Error::Custody)?;
    }
    let created_at = Timestamp::from_system(now);
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
        public_key_pem: signer.public_key().to_spki_pem()?,
        cert_pem: art.cert,
        pkcs: art.pkcs,
        fingerprint: art.fingerprint,
        thumbprint: art.thumbprint,
        thumbprint_sha256: art.thumbprint_sha256,
        subject_dn: art.subject_dn,
        sealed,
        credential_id: None,
        // The saga sets the method its rotation is for.
        method: crate::store::CredentialMethod::default(),
        state: KeyState::Pending,
        created_at,
        expires_at: req.lifetime.map(|l| Timestamp::from_secs(created_at.as_secs()).plus(l)),
        activated_at: None,
        retire_at: None,
        last_signed_exp: None,
    })
}

/// The certificate's CN: the client id, cut to X.520's 64 characters.
fn common_name(client_id: &str) -> String {
    client_id.chars().take(64).collect()
}
