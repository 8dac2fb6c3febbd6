//! `keyward cert inspect`: the Auth0 connection-key fields of a certificate or PKCS#7 PEM.

use clap::{Args, Subcommand};
use keyward_crypto::{Algorithm, CertArtifacts, Certificate, PemBlock, certificates_from_pkcs7};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::CliError;
use super::{FilePath, parse_alg, print_json};
use crate::files::read_text;

#[derive(Debug, Subcommand)]
pub(super) enum CertCommand {
    /// Print kid, fingerprint, thumbprint, subject_dn, PKCS#7 and validity of a certificate.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// A certificate PEM or a PKCS7 PEM.
    file: FilePath,
    /// The algorithm to report (default: RS256 for RSA, ES256/ES384 for EC).
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
}

#[derive(Serialize)]
struct Inspected {
    #[serde(flatten)]
    artifacts: CertArtifacts,
    not_before: String,
    not_after: String,
}

pub(super) fn run(cmd: CertCommand) -> Result<(), CliError> {
    let CertCommand::Inspect(args) = cmd;
    let text = read_text(&args.file)?;
    let block = PemBlock::find(&text, &["CERTIFICATE", "PKCS7"])?;
    let cert = if block.label == "PKCS7" {
        let certs = certificates_from_pkcs7(&block.der)?;
        match certs.as_slice() {
            [one] => Certificate::from_der(one)?,
            other => {
                return Err(keyward_crypto::Error::Pkcs7(format!(
                    "expected exactly one certificate, found {}",
                    other.len()
                ))
                .into());
            }
        }
    } else {
        Certificate::from_der(&block.der)?
    };
    let rfc3339 = |t: std::time::SystemTime| time::OffsetDateTime::from(t).format(&Rfc3339).map_err(CliError::output);
    print_json(&Inspected {
        artifacts: CertArtifacts::from_certificate(&cert, args.alg)?,
        not_before: rfc3339(cert.not_before())?,
        not_after: rfc3339(cert.not_after())?,
    })
}
