//! The `keyward` command line: the service (`serve`, `dev`), client commands against it, KEK
//! rotation, and the offline key and JWT tools.

mod bench;
mod cert;
mod client;
mod config;
mod dev;
mod error;
mod jwt;
mod kek;
mod keygen;
mod policy;
mod render;
mod revoke;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use keyward_crypto::{Algorithm, Backend};

pub use error::CliError;

/// keyward: key custody and rotation for Auth0 private_key_jwt credentials.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    client: client::ClientOptions,
}

/// The endpoint client commands use unless told otherwise (what `keyward dev` listens on).
pub use keyward_proto::DEFAULT_ENDPOINT;

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service with a configuration file.
    Serve(serve::ServeArgs),
    /// Run the service on its embedded default: SQLite, a generated KEK and an emulated Auth0.
    #[cfg_attr(not(feature = "dev"), command(about = "Not in this build: keyward dev needs the `dev` feature"))]
    Dev(dev::DevArgs),
    /// Rotate a client credential or a connection's keys (against a running keyward).
    #[command(subcommand)]
    Rotate(client::RotateCommand),
    /// Revoke a client credential now: signing stops, it leaves Auth0, its key is destroyed.
    Revoke(revoke::RevokeArgs),
    /// Look up a rotation (against a running keyward).
    #[command(subcommand)]
    Rotation(client::RotationCommand),
    /// List a client's credentials (against a running keyward).
    #[command(subcommand)]
    Credentials(client::CredentialsCommand),
    /// Scheduled-rotation policies and their status (against a running keyward).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Read the audit log (against a running keyward).
    #[command(subcommand)]
    Audit(client::AuditCommand),
    /// Validate a configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Rotate the key-encryption key that wraps every stored private key.
    #[command(subcommand)]
    Kek(kek::KekCommand),
    /// Generate a key pair with an Auth0-shaped certificate and PKCS#7.
    Keygen(keygen::KeygenArgs),
    /// Certificate tools.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// JWS/JWT tools.
    #[command(subcommand)]
    Jwt(jwt::JwtCommand),
    /// Measure signing throughput.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    /// Whether the command runs the service (which sets up its own telemetry).
    pub fn is_service(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Dev(_))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Dev(args) => dev::run(args),
        Command::Rotate(cmd) => client::rotate(&cli.client, cmd),
        Command::Revoke(args) => revoke::run(&cli.client, args),
        Command::Rotation(cmd) => client::rotation(&cli.client, cmd),
        Command::Credentials(cmd) => client::credentials(&cli.client, cmd),
        Command::Audit(cmd) => client::audit(&cli.client, cmd),
        Command::Policy(cmd) => policy::run(&cli.client, cmd),
        Command::Kek(cmd) => kek::run(cmd, cli.client.json),
        Command::Config(cmd) => config::run(cmd, cli.client.json),
        Command::Keygen(args) => keygen::run(args),
        Command::Cert(cmd) => cert::run(cmd),
        Command::Jwt(cmd) => jwt::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
    }
}

/// `--alg` and `--bits` as several commands take them.
#[derive(Debug, Args)]
struct KeyChoice {
    /// JWS algorithm: RS256, RS384, RS512, PS256, PS384, ES256 or ES384.
    #[arg(long, value_parser = parse_alg)]
    alg: Algorithm,
    /// RSA modulus size: 2048 (default), 3072 or 4096. Refused for EC algorithms.
    #[arg(long)]
    bits: Option<usize>,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    s.parse().map_err(|e: keyward_crypto::UnknownAlgorithm| e.to_string())
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    let backend: Backend = s.parse().map_err(|e: keyward_crypto::Error| e.to_string())?;
    if backend.is_available() {
        Ok(backend)
    } else {
        Err(format!("backend {backend} is not built into this binary (build with the aws-lc feature)"))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 60s, 2m, 500ms)"))
}

/// Prints one JSON value on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::output)?;
    println!("{text}");
    Ok(())
}

/// A path argument.
type FilePath = PathBuf;
