//! Signing from the shell: `sign assertion`, `sign jwt`, `jwks` and `token get`, over the
//! Signer and Tokens services.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::CliError;
use super::connect::ClientOptions;
use super::parse_duration;

#[derive(Debug, Subcommand)]
pub(super) enum SignCommand {
    /// Sign a private_key_jwt client assertion (RFC 7523) for Auth0's /oauth/token.
    Assertion(AssertionArgs),
    /// Sign JWT claims (a JSON object with `exp`) with the client's active key.
    Jwt(JwtArgs),
}

#[derive(Debug, Args)]
pub(super) struct AssertionArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// The assertion's audience (default: the tenant's issuer, https://{domain}/).
    #[arg(long)]
    audience: Option<String>,
    /// How long the assertion is valid (default 60s, at most 5m).
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<Duration>,
}

#[derive(Debug, Args)]
pub(super) struct JwtArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// A file holding the claims as a JSON object, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    claims: PathBuf,
    /// The header's `typ` (default JWT).
    #[arg(long)]
    typ: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct JwksArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Get an Auth0 access token for the client (keyward signs the assertion and exchanges it).
    Get(TokenArgs),
}

#[derive(Debug, Args)]
pub(super) struct TokenArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// The API identifier to get a token for.
    #[arg(long)]
    audience: String,
    /// Space-separated scopes to ask for.
    #[arg(long)]
    scope: Option<String>,
}

/// `keyward sign assertion|jwt`.
pub(super) fn sign(opts: &ClientOptions, cmd: SignCommand) -> Result<(), CliError> {
    let _ = (opts, cmd);
    Err(CliError::usage("sign", "not built yet"))
}

/// `keyward jwks`.
pub(super) fn jwks(opts: &ClientOptions, args: JwksArgs) -> Result<(), CliError> {
    let _ = (opts, args);
    Err(CliError::usage("jwks", "not built yet"))
}

/// `keyward token get`.
pub(super) fn token(opts: &ClientOptions, cmd: TokenCommand) -> Result<(), CliError> {
    let _ = (opts, cmd);
    Err(CliError::usage("token", "not built yet"))
}
