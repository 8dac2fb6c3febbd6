//! Signing from the shell: `sign assertion`, `sign jwt`, `sign request-object`, `jwks` and `token get`, over the
//! Signer and Tokens services.
//!
//! The signed thing is the product: without `--json` it goes to stdout alone, on one line, so
//! `$(keyward sign assertion …)` works, and stderr stays empty on success. Nothing here ever puts
//! an assertion, a JWT or an access token into an error message.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::CliError;
use super::connect::{ClientOptions, channel, pb_duration, runtime};
use super::out::outln;
use super::parse_duration;
use super::print_json;
use super::render::time;
use crate::grpc::proto::{self, signer_client::SignerClient, tokens_client::TokensClient};

/// The most `--claims` reads: far above what keyward signs, far below what would hurt.
const MAX_CLAIMS_BYTES: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub(super) enum SignCommand {
    /// Sign a private_key_jwt client assertion (RFC 7523) for Auth0's /oauth/token.
    Assertion(AssertionArgs),
    /// Sign JWT claims (a JSON object with `exp`) with the client's active key.
    Jwt(JwtArgs),
    /// Sign a JAR request object (RFC 9101) with the client's signed_request_object key.
    RequestObject(RequestObjectArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Prints the request object alone on stdout, on one line: \
                        ro=$(keyward sign request-object … --claims '{\"response_type\":\"code\"}').\n\
                        --json prints {\"request_object\", \"kid\", \"credential_id\", \"algorithm\", \"expires_at\", \
                        \"jti\"}.\nkeyward sets iss, client_id, aud, iat, nbf, exp and jti; the claims must not hold \
                        them (client_id may, if it is the client's).")]
pub(super) struct RequestObjectArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// The authorization request parameters: a JSON object written inline (starting with `{`),
    /// a file holding one, or `-` for standard input (at most 64 KiB).
    #[arg(long, value_name = "JSON|FILE|-")]
    claims: String,
    /// The audience (default: the tenant's issuer, https://{domain}/).
    #[arg(long)]
    audience: Option<String>,
    /// How long the request object is valid (default 60s, at most 5m).
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(after_help = "Prints the compact JWS alone on stdout, on one line: assertion=$(keyward sign assertion …).\n\
                        --json prints {\"assertion\", \"kid\", \"credential_id\", \"algorithm\", \"expires_at\"} \
                        (expires_at in RFC 3339 UTC; absent values null).")]
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
#[command(after_help = "Prints the compact JWS alone on stdout, on one line: jwt=$(keyward sign jwt … --claims -).\n\
                        --json prints {\"jwt\", \"kid\", \"algorithm\"} (absent values null).\n\
                        The claims are sent as written, once they are known to be a JSON object of at most 64 KiB.")]
pub(super) struct JwtArgs {
    /// Tenant name as configured.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// A file holding the claims as a JSON object, or `-` for standard input (at most 64 KiB).
    #[arg(long, value_name = "FILE|-")]
    claims: PathBuf,
    /// The header's `typ` (default JWT).
    #[arg(long)]
    typ: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Prints the JWKS ({\"keys\": […]}, the ACTIVE and RETIRING public keys) on stdout as \
                        pretty-printed JSON.\n--json prints the same object.")]
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
#[command(after_help = "Prints the access token alone on stdout, on one line: token=$(keyward token get …).\n\
                        --json prints {\"access_token\", \"token_type\", \"expires_at\", \"scope\"} \
                        (expires_at in RFC 3339 UTC; absent values null).")]
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
    match cmd {
        SignCommand::Assertion(a) => assertion(opts, a),
        SignCommand::Jwt(a) => jwt(opts, a),
        SignCommand::RequestObject(a) => request_object(opts, a),
    }
}

fn request_object(opts: &ClientOptions, a: RequestObjectArgs) -> Result<(), CliError> {
    let claims_json = if a.claims.trim_start().starts_with('{') {
        if a.claims.len() as u64 > MAX_CLAIMS_BYTES {
            return Err(CliError::usage("--claims", "more than 64 KiB; the claims must be a small JSON object"));
        }
        a.claims
    } else {
        read_claims(Path::new(&a.claims))?
    };
    let req = proto::SignRequestObjectRequest {
        tenant: a.tenant,
        client_id: a.client,
        claims_json,
        lifetime: pb_duration(a.lifetime),
        audience: a.audience.unwrap_or_default(),
    };
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = SignerClient::with_interceptor(channel, bearer);
        let r = client.sign_request_object(req).await.map_err(CliError::from)?.into_inner();
        if opts.json {
            return print_json(&json!({
                "request_object": r.request_object,
                "kid": opt_str(r.kid),
                "credential_id": opt_str(r.credential_id),
                "algorithm": opt_str(r.algorithm),
                "expires_at": opt_time(r.expires_at.as_ref()),
                "jti": opt_str(r.jti),
            }));
        }
        outln!("{}", r.request_object)
    })
}

fn assertion(opts: &ClientOptions, a: AssertionArgs) -> Result<(), CliError> {
    let req = proto::SignClientAssertionRequest {
        tenant: a.tenant,
        client_id: a.client,
        audience: a.audience.unwrap_or_default(),
        lifetime: pb_duration(a.lifetime),
    };
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = SignerClient::with_interceptor(channel, bearer);
        let r = client.sign_client_assertion(req).await.map_err(CliError::from)?.into_inner();
        if opts.json {
            return print_json(&json!({
                "assertion": r.assertion,
                "kid": opt_str(r.kid),
                "credential_id": opt_str(r.credential_id),
                "algorithm": opt_str(r.algorithm),
                "expires_at": opt_time(r.expires_at.as_ref()),
            }));
        }
        outln!("{}", r.assertion)
    })
}

fn jwt(opts: &ClientOptions, a: JwtArgs) -> Result<(), CliError> {
    // Checked before any connection: a bad file is the caller's to fix, whatever the server.
    let claims_json = read_claims(&a.claims)?;
    let req =
        proto::SignJwtRequest { tenant: a.tenant, client_id: a.client, claims_json, typ: a.typ.unwrap_or_default() };
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = SignerClient::with_interceptor(channel, bearer);
        let r = client.sign_jwt(req).await.map_err(CliError::from)?.into_inner();
        if opts.json {
            return print_json(&json!({
                "jwt": r.jwt,
                "kid": opt_str(r.kid),
                "algorithm": opt_str(r.algorithm),
            }));
        }
        outln!("{}", r.jwt)
    })
}

/// `keyward jwks`.
pub(super) fn jwks(opts: &ClientOptions, args: JwksArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = SignerClient::with_interceptor(channel, bearer);
        let req = proto::GetJwksRequest { tenant: args.tenant, client_id: args.client };
        let r = client.get_jwks(req).await.map_err(CliError::from)?.into_inner();
        // JSON by nature: the same pretty-printed object with or without --json.
        let jwks: Value = serde_json::from_str(&r.jwks_json).map_err(CliError::output)?;
        print_json(&jwks)
    })
}

/// `keyward token get`.
pub(super) fn token(opts: &ClientOptions, cmd: TokenCommand) -> Result<(), CliError> {
    let TokenCommand::Get(a) = cmd;
    let req = proto::GetAccessTokenRequest {
        tenant: a.tenant,
        client_id: a.client,
        audience: a.audience,
        scope: a.scope.unwrap_or_default(),
    };
    runtime()?.block_on(async {
        let (channel, bearer) = channel(opts).await?;
        let mut client = TokensClient::with_interceptor(channel, bearer);
        let r = client.get_access_token(req).await.map_err(CliError::from)?.into_inner();
        if opts.json {
            return print_json(&json!({
                "access_token": r.access_token,
                "token_type": opt_str(r.token_type),
                "expires_at": opt_time(r.expires_at.as_ref()),
                "scope": opt_str(r.scope),
            }));
        }
        outln!("{}", r.access_token)
    })
}

/// A string, or null when the server left it empty.
fn opt_str(s: String) -> Value {
    if s.is_empty() { Value::Null } else { Value::String(s) }
}

/// RFC 3339 in UTC, or null when unset.
fn opt_time(t: Option<&prost_types::Timestamp>) -> Value {
    opt_str(time(t))
}

/// The claims of `--claims FILE|-`, as written (so the server's checks, duplicate keys among
/// them, see what the caller wrote), once they are known to be a JSON object of at most
/// [`MAX_CLAIMS_BYTES`]. Every failure is a usage error naming `--claims`, and never quotes
/// the claims themselves.
fn read_claims(path: &Path) -> Result<String, CliError> {
    let stdin = path.as_os_str() == "-";
    let source = if stdin { "standard input".to_owned() } else { path.display().to_string() };
    let mut bytes = Vec::new();
    let read = if stdin {
        let input = std::io::stdin();
        if input.is_terminal() {
            return Err(CliError::usage(
                "--claims",
                "`-` reads standard input, which is a terminal; pipe the claims in or name a file",
            ));
        }
        input.lock().take(MAX_CLAIMS_BYTES + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_CLAIMS_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| CliError::usage("--claims", format!("cannot read {source}: {e}")))?;
    if bytes.len() as u64 > MAX_CLAIMS_BYTES {
        return Err(CliError::usage(
            "--claims",
            format!("{source} holds more than 64 KiB; the claims must be a small JSON object"),
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| CliError::usage("--claims", format!("{source} is not UTF-8 text")))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(CliError::usage("--claims", format!("{source} is empty; expected a JSON object of claims")));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CliError::usage("--claims", format!("{source} is not valid JSON ({e})")))?;
    let kind = match value {
        Value::Object(_) => return Ok(text.to_owned()),
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    Err(CliError::usage(
        "--claims",
        format!(
            "{source} holds {kind}; the claims must be a JSON object, e.g. {{\"sub\": \"…\", \"exp\": 1767225600}}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn claims_in(text: &[u8]) -> Result<String, CliError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        read_claims(f.path())
    }

    #[test]
    fn claims_must_be_one_json_object_and_stay_as_written() {
        let written = "{\"exp\": 1, \"a\": 1, \"a\": 2}\n";
        assert_eq!(claims_in(written.as_bytes()).unwrap(), written.trim(), "duplicates are the server's to refuse");
        for (bad, says) in [
            (&b"[1]"[..], "holds an array"),
            (b"\"x\"", "holds a string"),
            (b"null", "holds null"),
            (b"", "is empty"),
            (b"{", "is not valid JSON"),
            (b"\xff{}", "is not UTF-8"),
        ] {
            let e = claims_in(bad).unwrap_err();
            assert_eq!(e.exit_code(), 64, "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with("--claims: ") && msg.contains(says) && !msg.contains('\n'), "{msg}");
        }
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
        assert!(claims_in(big.as_bytes()).unwrap_err().to_string().contains("more than 64 KiB"));
        let e = read_claims(Path::new("/nonexistent/claims.json")).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().starts_with("--claims: cannot read /nonexistent/claims.json"), "{e}");
    }
}
