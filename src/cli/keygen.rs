//! `keyward keygen`: a key pair, its Auth0-shaped certificate and PKCS#7, and the Auth0
//! connection-key fields as JSON.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;
use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, KeySpec, PrivateKey, signer_for,
};

use super::CliError;
use super::{KeyChoice, parse_backend, print_json};
use crate::Error;
use crate::files::{PUBLIC_FILE_MODE, SECRET_FILE_MODE, write_atomic};
use crate::rng::os_rng;

#[derive(Debug, Args)]
pub(super) struct KeygenArgs {
    #[command(flatten)]
    key: KeyChoice,
    /// Certificate common name.
    #[arg(long, default_value = "keyward")]
    name: String,
    /// Directory to write private.pem, public.pem, cert.pem and cert.p7b into (created).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing private.pem.
    #[arg(long)]
    force: bool,
    /// Key generation backend: aws-lc (default when built) or rustcrypto.
    #[arg(long, value_parser = parse_backend)]
    backend: Option<Backend>,
}

pub(super) fn run(args: KeygenArgs) -> Result<(), CliError> {
    let alg = args.key.alg;
    let spec = KeySpec::for_algorithm(alg, args.key.bits).map_err(|e| match (alg, e) {
        (Algorithm::ES256 | Algorithm::ES384, _) => CliError::usage("--bits", format!("not accepted for {alg}")),
        (_, e) => CliError::usage("--bits", e.to_string()),
    })?;
    let private_path = args.out.join("private.pem");
    if private_path.exists() && !args.force {
        return Err(CliError::WouldOverwrite(private_path));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;

    let backend = args.backend.unwrap_or_else(Backend::fastest);
    let key = generate(backend, spec)?;
    let mut rng = os_rng();
    let cert_signer = signer_for(backend, &key, Algorithm::for_certificate(key.kind()))?;
    let cert =
        Certificate::self_signed(&*cert_signer, &CertificateParams::new(&args.name, SystemTime::now()), &mut rng)?;
    let artifacts = CertArtifacts::from_certificate(&cert, Some(alg))?;

    let pkcs7_lf = artifacts.pkcs.replace("\r\n", "\n");
    write_atomic(&private_path, key.to_pkcs8_pem()?.as_bytes(), SECRET_FILE_MODE)?;
    write_atomic(&args.out.join("public.pem"), key.public_key().to_spki_pem()?.as_bytes(), PUBLIC_FILE_MODE)?;
    write_atomic(&args.out.join("cert.pem"), cert.to_pem()?.as_bytes(), PUBLIC_FILE_MODE)?;
    write_atomic(&args.out.join("cert.p7b"), pkcs7_lf.as_bytes(), PUBLIC_FILE_MODE)?;
    print_json(&artifacts)
}

fn generate(backend: Backend, spec: KeySpec) -> Result<PrivateKey, CliError> {
    match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => Ok(keyward_crypto::aws_lc_generate(spec)?),
        _ => Ok(PrivateKey::generate(spec, &mut os_rng())?),
    }
}
