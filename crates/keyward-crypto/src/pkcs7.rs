//! The degenerate, certs-only PKCS#7 SignedData Auth0 returns as a connection key's `pkcs`
//! (CONTRACT.md §3.2). RFC 2315 §9.1 / RFC 5652 §5.

use der::asn1::{AnyRef, ObjectIdentifier, SetOfVec};
use der::{Decode, Encode, Sequence};

use crate::error::Error;

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedData<'a>,
}

#[derive(Sequence)]
struct SignedData<'a> {
    version: u8,
    digest_algorithms: SetOfVec<AnyRef<'a>>,
    encap_content_info: EncapContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<AnyRef<'a>>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<SetOfVec<AnyRef<'a>>>,
    signer_infos: SetOfVec<AnyRef<'a>>,
}

#[derive(Sequence)]
struct EncapContentInfo {
    content_type: ObjectIdentifier,
}

/// The certs-only SignedData holding exactly `cert_der`: version 1, no digest algorithms,
/// empty `data` content, the certificate, no CRLs, no signer infos. DER.
pub fn degenerate_pkcs7(cert_der: &[u8]) -> Result<Vec<u8>, Error> {
    let cert = AnyRef::from_der(cert_der).map_err(|e| Error::Pkcs7(format!("certificate is not DER ({e})")))?;
    let mut certs = SetOfVec::new();
    certs.insert(cert).map_err(|e| Error::Pkcs7(e.to_string()))?;
    ContentInfo {
        content_type: SIGNED_DATA,
        content: SignedData {
            version: 1,
            digest_algorithms: SetOfVec::new(),
            encap_content_info: EncapContentInfo { content_type: DATA },
            certificates: Some(certs),
            crls: None,
            signer_infos: SetOfVec::new(),
        },
    }
    .to_der()
    .map_err(|e| Error::Pkcs7(e.to_string()))
}

/// The certificates (DER) inside a PKCS#7 SignedData.
pub fn certificates_from_pkcs7(der: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let info = ContentInfo::from_der(der).map_err(|e| Error::Pkcs7(format!("not a certs-only SignedData ({e})")))?;
    if info.content_type != SIGNED_DATA {
        return Err(Error::Pkcs7(format!("content type {} is not signedData", info.content_type)));
    }
    let certs = info.content.certificates.unwrap_or_default();
    certs.iter().map(|c| c.to_der().map_err(|e| Error::Pkcs7(e.to_string()))).collect()
}
