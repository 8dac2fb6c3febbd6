//! PEM parsing (one or many blocks, LF or CRLF) and Auth0-style CRLF encoding.

use pem_rfc7468::LineEnding;
use zeroize::Zeroizing;

use crate::error::Error;

/// Largest PEM input we parse. Real keys and certificates are a few KiB.
const MAX_PEM_LEN: usize = 1 << 20;

/// One decoded PEM block. The DER is zeroized on drop, since it may hold a private key.
pub struct PemBlock {
    /// The label, e.g. `CERTIFICATE` or `PRIVATE KEY`.
    pub label: String,
    /// The decoded bytes.
    pub der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("der", &format_args!("[{} bytes elided]", self.der.len()))
            .finish()
    }
}

impl PemBlock {
    /// Every PEM block in `input`, in order. Text between blocks (as `openssl` prints) is
    /// ignored; CRLF and LF line endings are both accepted.
    pub fn parse_all(input: &str) -> Result<Vec<PemBlock>, Error> {
        if input.len() > MAX_PEM_LEN {
            return Err(Error::Pem(format!("PEM input larger than {MAX_PEM_LEN} bytes")));
        }
        let normalised = Zeroizing::new(input.replace("\r\n", "\n"));
        let mut blocks = Vec::new();
        let mut rest = normalised.as_str();
        while let Some(start) = rest.find("-----BEGIN ") {
            let after = &rest[start..];
            let label_end =
                after[11..].find("-----").ok_or_else(|| Error::Pem("PEM header is not terminated".into()))?;
            let label = &after[11..11 + label_end];
            let footer = format!("-----END {label}-----");
            let end = after.find(&footer).ok_or_else(|| Error::Pem(format!("PEM block {label:?} has no END line")))?;
            let block = &after[..end + footer.len()];
            let (decoded_label, der) = pem_rfc7468::decode_vec(block.as_bytes())
                .map_err(|e| Error::Pem(format!("malformed PEM block {label:?}: {e}")))?;
            blocks.push(PemBlock { label: decoded_label.to_owned(), der: Zeroizing::new(der) });
            rest = &after[end + footer.len()..];
        }
        if blocks.is_empty() {
            return Err(Error::Pem("no PEM block found".into()));
        }
        Ok(blocks)
    }

    /// The first block in `input` whose label is one of `labels`.
    pub fn find(input: &str, labels: &[&str]) -> Result<PemBlock, Error> {
        let blocks = Self::parse_all(input)?;
        let found: Vec<String> = blocks.iter().map(|b| b.label.clone()).collect();
        blocks.into_iter().find(|b| labels.contains(&b.label.as_str())).ok_or_else(|| {
            Error::Pem(format!("expected a PEM block labelled {}, found {}", labels.join(" or "), found.join(", ")))
        })
    }
}

/// PEM exactly as Auth0 emits it: 64-column lines, `\r\n` endings, trailing `\r\n`.
pub fn pem_crlf(label: &str, der: &[u8]) -> Result<String, Error> {
    pem_rfc7468::encode_string(label, LineEnding::CRLF, der).map_err(|e| Error::Encoding(e.to_string()))
}

/// PEM with `\n` endings, as files on disk and `openssl` use.
pub(crate) fn pem_lf(label: &str, der: &[u8]) -> Result<String, Error> {
    pem_rfc7468::encode_string(label, LineEnding::LF, der).map_err(|e| Error::Encoding(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_layout() {
        let der = vec![0xABu8; 100];
        let pem = pem_crlf("CERTIFICATE", &der).unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\r\n"));
        assert!(pem.lines().all(|l| l.trim_end_matches('\r').len() <= 64));
        assert!(!pem.replace("\r\n", "").contains('\n'));
        let back = PemBlock::parse_all(&pem).unwrap_or_default();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].der.as_slice(), der.as_slice());
    }

    #[test]
    fn many_blocks_with_text_and_errors() {
        let a = pem_lf("CERTIFICATE", &[1, 2, 3]).unwrap_or_default();
        let b = pem_lf("PUBLIC KEY", &[4, 5]).unwrap_or_default();
        let both = format!("subject=CN=x\n{a}\nissuer=CN=x\n{b}\n\n");
        let blocks = PemBlock::parse_all(&both).unwrap_or_default();
        assert_eq!(blocks.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(), ["CERTIFICATE", "PUBLIC KEY"]);
        assert!(PemBlock::find(&both, &["PRIVATE KEY"]).is_err());
        assert!(PemBlock::parse_all("not pem").is_err());
        assert!(PemBlock::parse_all("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(PemBlock::parse_all("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
    }
}
