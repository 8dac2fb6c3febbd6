//! Which PKCS#11 mechanism signs for each JWS algorithm, and turning a module's ECDSA output
//! into JWS form.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use keyward_crypto::Algorithm;
use sha2::{Digest, Sha256, Sha384};

use crate::error::Error;

/// How to sign for one algorithm.
pub(crate) enum Plan {
    /// The module hashes and pads: pass the message.
    Direct(Mechanism<'static>),
    /// CKM_ECDSA over a digest computed here; the signature is `width`-byte R || `width`-byte S.
    Ecdsa {
        /// SHA-256 or SHA-384 of the message.
        digest: fn(&[u8]) -> Vec<u8>,
        /// The curve's field size in bytes.
        width: usize,
    },
}

fn sha256(m: &[u8]) -> Vec<u8> {
    Sha256::digest(m).to_vec()
}

fn sha384(m: &[u8]) -> Vec<u8> {
    Sha384::digest(m).to_vec()
}

/// The signing plan for `alg`: RSxxx with CKM_SHAxxx_RSA_PKCS, PSxxx with CKM_SHAxxx_RSA_PKCS_PSS
/// (MGF1 with the same hash, salt the hash's length), ESxxx with CKM_ECDSA over our digest.
pub(crate) fn plan(alg: Algorithm) -> Plan {
    let pss = |hash_alg, mgf, s_len: u64| PkcsPssParams { hash_alg, mgf, s_len: s_len.into() };
    match alg {
        Algorithm::RS256 => Plan::Direct(Mechanism::Sha256RsaPkcs),
        Algorithm::RS384 => Plan::Direct(Mechanism::Sha384RsaPkcs),
        Algorithm::RS512 => Plan::Direct(Mechanism::Sha512RsaPkcs),
        Algorithm::PS256 => {
            Plan::Direct(Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)))
        }
        Algorithm::PS384 => {
            Plan::Direct(Mechanism::Sha384RsaPkcsPss(pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48)))
        }
        Algorithm::ES256 => Plan::Ecdsa { digest: sha256, width: 32 },
        Algorithm::ES384 => Plan::Ecdsa { digest: sha384, width: 48 },
    }
}

/// A module's ECDSA signature as fixed-size R || S: raw `2 * width` bytes as they come, or a
/// DER `ECDSA-Sig-Value` converted (leading zeros stripped, each integer left-padded).
pub(crate) fn ecdsa_to_jws(sig: &[u8], width: usize) -> Result<Vec<u8>, Error> {
    if sig.len() == 2 * width {
        return Ok(sig.to_vec());
    }
    let bad = || Error::Malformed("ECDSA signature is neither R||S nor DER");
    let (r, s) = der_sequence_of_two_uints(sig).ok_or_else(bad)?;
    let mut out = vec![0u8; 2 * width];
    for (i, int) in [r, s].into_iter().enumerate() {
        let int = strip_zeros(int);
        if int.len() > width {
            return Err(bad());
        }
        let end = (i + 1) * width;
        out[end - int.len()..end].copy_from_slice(int);
    }
    Ok(out)
}

fn strip_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

/// `SEQUENCE { INTEGER r, INTEGER s }` (non-negative) decoded with `der`.
fn der_sequence_of_two_uints(sig: &[u8]) -> Option<(&[u8], &[u8])> {
    use der::asn1::UintRef;
    use der::{Decode, Reader, SliceReader};
    let mut reader = SliceReader::new(sig).ok()?;
    let (r, s) = reader
        .sequence(|seq| {
            let r = UintRef::decode(seq)?;
            let s = UintRef::decode(seq)?;
            Ok::<_, der::Error>((r.as_bytes(), s.as_bytes()))
        })
        .ok()?;
    reader.finish().ok()?;
    Some((r, s))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn raw_passes_and_der_converts() {
        let raw: Vec<u8> = (1..=64).collect();
        assert_eq!(ecdsa_to_jws(&raw, 32).unwrap(), raw);
        // r = 0x00ff (needs a leading zero in DER), s = 0x01.
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        let out = ecdsa_to_jws(&der, 32).unwrap();
        assert_eq!(out.len(), 64);
        assert_eq!(out[31], 0xff);
        assert_eq!(out[63], 0x01);
        assert!(out[..31].iter().all(|b| *b == 0));
        assert!(ecdsa_to_jws(&[0x30, 0x00], 32).is_err());
        assert!(ecdsa_to_jws(&[1, 2, 3], 32).is_err());
    }
}
