//! `keyward jwt sign|assertion|verify`.

use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use keyward_crypto::{
    Algorithm, AssertionParams, Backend, Jwks, PemBlock, PrivateKey, PublicKey, Signer, check_time_claims,
    client_assertion, decode_header, sign_compact, signer_for, verify_compact,
};
use serde_json::{Map, Value, json};

use super::CliError;
use super::out::outln;
use super::{FilePath, parse_alg, parse_duration, print_json};
use crate::files::read_text;
use crate::rng::os_rng;

#[derive(Debug, Subcommand)]
pub(super) enum JwtCommand {
    /// Sign a JSON object of claims as a compact JWS.
    Sign(SignArgs),
    /// Build and sign an Auth0 private_key_jwt client assertion.
    Assertion(AssertionArgs),
    /// Verify a compact JWS and print its header and claims.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub(super) struct SignArgs {
    /// The private key PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: FilePath,
    /// JWS algorithm.
    #[arg(long, value_parser = parse_alg)]
    alg: Algorithm,
    /// `kid` header.
    #[arg(long)]
    kid: Option<String>,
    /// `typ` header.
    #[arg(long)]
    typ: Option<String>,
    /// The claims: a JSON object, or @FILE to read it from a file.
    #[arg(long)]
    claims: String,
}

#[derive(Debug, Args)]
pub(super) struct AssertionArgs {
    /// The private key PEM.
    #[arg(long)]
    key: FilePath,
    /// JWS algorithm (Auth0 accepts RS256, RS384 and PS256 for client credentials).
    #[arg(long, value_parser = parse_alg)]
    alg: Algorithm,
    /// The application's client_id (`iss` and `sub`).
    #[arg(long)]
    client_id: String,
    /// `aud`: the tenant, `https://{domain}/`.
    #[arg(long)]
    audience: String,
    /// exp − iat; at most 300s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    lifetime: Duration,
    /// `kid` header.
    #[arg(long)]
    kid: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// A public key PEM, a certificate PEM, or a JWKS JSON document.
    #[arg(long)]
    key: FilePath,
    /// The algorithm the token must use.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Clock skew allowed on exp and nbf.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    leeway: Duration,
    /// The compact JWS.
    token: String,
}

pub(super) fn run(cmd: JwtCommand) -> Result<(), CliError> {
    match cmd {
        JwtCommand::Sign(args) => sign(args),
        JwtCommand::Assertion(args) => assertion(args),
        JwtCommand::Verify(args) => verify(args),
    }
}

fn load_signer(path: &FilePath, alg: Algorithm) -> Result<Box<dyn Signer>, CliError> {
    let key = PrivateKey::from_pem(&read_text(path)?)?;
    Ok(signer_for(Backend::fastest(), &key, alg)?)
}

fn sign(args: SignArgs) -> Result<(), CliError> {
    let text = match args.claims.strip_prefix('@') {
        Some(path) => read_text(path.as_ref())?,
        None => args.claims.clone(),
    };
    let claims: Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| CliError::usage("--claims", format!("not a JSON object: {e}")))?;
    let signer = load_signer(&args.key, args.alg)?;
    let payload = serde_json::to_vec(&claims).map_err(CliError::output)?;
    let token = sign_compact(&*signer, args.kid.as_deref(), args.typ.as_deref(), &payload, &mut os_rng())?;
    outln!("{token}")?;
    Ok(())
}

fn assertion(args: AssertionArgs) -> Result<(), CliError> {
    let signer = load_signer(&args.key, args.alg)?;
    let params = AssertionParams {
        client_id: &args.client_id,
        audience: &args.audience,
        now: SystemTime::now(),
        lifetime: args.lifetime,
        kid: args.kid.as_deref(),
    };
    let token = client_assertion(&*signer, &params, &mut os_rng())?;
    outln!("{token}")?;
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let text = read_text(&args.key)?;
    let token = args.token.trim();
    let key = if text.trim_start().starts_with('{') {
        let jwks = Jwks::from_json(&text)?;
        let kid = decode_header(token)?.kid;
        let jwk = jwks.find(kid.as_deref()).ok_or_else(|| {
            keyward_crypto::Error::Jwk(match &kid {
                Some(kid) => format!("no key with kid {kid:?} in the JWKS"),
                None => "token has no kid and the JWKS holds more than one key".into(),
            })
        })?;
        jwk.to_public_key()?
    } else {
        public_key_from_pem(&text)?
    };
    let verified = verify_compact(token, &key, args.alg)?;
    let claims = verified.claims()?;
    check_time_claims(&claims, SystemTime::now(), args.leeway)?;
    print_json(&json!({ "header": verified.header, "claims": claims }))
}

/// A public key from a public key, certificate or private key PEM.
fn public_key_from_pem(text: &str) -> Result<PublicKey, CliError> {
    let blocks = PemBlock::parse_all(text)?;
    if blocks.iter().any(|b| b.label.ends_with("PRIVATE KEY")) {
        return Ok(PrivateKey::from_pem(text)?.public_key());
    }
    Ok(PublicKey::from_pem(text)?)
}
