//! The `keyward` command line: the service (`serve`, `dev`), client commands against it, KEK
//! rotation, and the offline key and JWT tools.

mod bench;
mod cert;
mod client;
mod config;
mod connect;
mod connection;
mod dev;
mod error;
mod inventory;
mod jwt;
mod kek;
mod keygen;
mod out;
mod policy;
mod render;
mod revoke;
mod rotations;
mod serve;
mod sign;
mod status;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use keyward_crypto::{Algorithm, Backend};

use connect::{ClientOptions, WithClient, WithClientArgs};
pub use error::CliError;

/// keyward: key custody and rotation for Auth0 private_key_jwt credentials.
#[derive(Debug, Parser)]
#[command(name = "keyward", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    early: connect::EarlyFlags,
}

/// `--version`: the package version and the git commit it was built from ("unknown" outside a
/// repository; set by build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("KEYWARD_GIT_COMMIT"), ")");

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
    Rotate(WithClient<client::RotateCommand>),
    /// Revoke a client credential now: signing stops, it leaves Auth0, its key is destroyed.
    Revoke(WithClientArgs<revoke::RevokeArgs>),
    /// Look up or list rotations (against a running keyward).
    Rotation(WithClient<rotations::RotationCommand>),
    /// List a client's credentials (against a running keyward).
    Credentials(WithClient<client::CredentialsCommand>),
    /// Scheduled-rotation policies and their status (against a running keyward).
    Policy(WithClient<policy::PolicyCommand>),
    /// Read the audit log (against a running keyward).
    Audit(WithClient<client::AuditCommand>),
    /// Sign a client assertion or a JWT with a client's active key (against a running keyward).
    Sign(WithClient<sign::SignCommand>),
    /// Print a client's public JWKS (against a running keyward).
    Jwks(WithClientArgs<sign::JwksArgs>),
    /// Get an Auth0 access token for a client (against a running keyward).
    Token(WithClient<sign::TokenCommand>),
    /// A connection's keys at Auth0, verified (against a running keyward).
    Connection(WithClient<connection::ConnectionCommand>),
    /// The server's version, readiness and store, and who you are there (against a running keyward).
    ///
    /// --json: {endpoint, version, commit, replica_id, ready, store, tenants, principal,
    /// authenticated_by, grants}.
    Status(WithClientArgs<status::StatusArgs>),
    /// Everything a tenant holds: each client's credential records (the methods that use them,
    /// keyward's or not, ages, expiry), connection and signing keys, flags (orphaned, expiring,
    /// expired, older than policy), and what changed outside keyward since the last inventory
    /// (against a running keyward).
    ///
    /// --json: {tenant, taken_at, expiry_window, baseline, previous_taken_at, clients: [{client_id,
    /// name, app_type, managed_by_keyward, credentials: [...]}], connection_keys, signing_keys,
    /// drift, summary, gaps}.
    Inventory(WithClientArgs<inventory::InventoryArgs>),
    /// Validate a configuration file.
    Config(WithJson<config::ConfigCommand>),
    /// Rotate the key-encryption key that wraps every stored private key.
    Kek(WithJson<kek::KekCommand>),
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
    /// Print a shell completion script on stdout (e.g. `keyward completions bash > /etc/bash_completion.d/keyward`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write man pages: keyward.1 and one per subcommand (keyward-rotate.1, …).
    Man {
        /// The directory to write them into (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// An offline command with `--json`, the one client flag it has a use for.
#[derive(Debug, Args)]
struct WithJson<C: Subcommand> {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: C,
}

/// The shells `keyward completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Cli {
    /// Whether the command runs the service (which sets up its own telemetry).
    pub fn is_service(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Dev(_))
    }
}

/// Parses the process's arguments; `Err(code)` when clap printed help or the version (0), or the
/// command line was refused in one line on stderr (64), and the process should exit with `code`.
pub fn parse() -> Result<Cli, u8> {
    Cli::try_parse().map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                0
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                64
            }
            _ => {
                let rendered = e.render().to_string();
                let args = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned());
                eprintln!("keyward: {}", usage_line(&rendered, args));
                64
            }
        }
    })
}

/// clap's multi-line refusal as one line with a `--help` hint: its first line without
/// "error: ", and the deepest command named in `args` whose help to read.
fn usage_line(rendered: &str, args: impl Iterator<Item = String>) -> String {
    let first = rendered.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let mut cmd = Cli::command();
    let mut path = vec!["keyward".to_owned()];
    for arg in args.filter(|a| !a.starts_with('-')) {
        if let Some(sub) = cmd.find_subcommand(&arg).cloned() {
            path.push(arg);
            cmd = sub;
        }
    }
    format!("{first} (see '{} --help')", path.join(" "))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let early = cli.early;
    let env = |k: &str| std::env::var(k).ok();
    let client = |flags| ClientOptions::resolve(flags, early.clone(), env);
    // An offline command before which a client flag was given: refused rather than ignored.
    let offline = |takes_json: bool| match early.client_flag() {
        Some(flag) => Err(CliError::usage(flag, "only commands that talk to a server take it")),
        None if early.json && !takes_json => Err(CliError::usage("--json", "this command does not take it")),
        None => Ok(()),
    };
    match cli.command {
        Command::Rotate(c) => at(&client(c.flags)?, |o| client::rotate(o, c.command)),
        Command::Revoke(c) => at(&client(c.flags)?, |o| revoke::run(o, c.args)),
        Command::Rotation(c) => at(&client(c.flags)?, |o| rotations::run(o, c.command)),
        Command::Credentials(c) => at(&client(c.flags)?, |o| client::credentials(o, c.command)),
        Command::Audit(c) => at(&client(c.flags)?, |o| client::audit(o, c.command)),
        Command::Policy(c) => at(&client(c.flags)?, |o| policy::run(o, c.command)),
        Command::Sign(c) => at(&client(c.flags)?, |o| sign::sign(o, c.command)),
        Command::Jwks(c) => at(&client(c.flags)?, |o| sign::jwks(o, c.args)),
        Command::Token(c) => at(&client(c.flags)?, |o| sign::token(o, c.command)),
        Command::Connection(c) => at(&client(c.flags)?, |o| connection::run(o, c.command)),
        Command::Status(c) => at(&client(c.flags)?, |o| status::run(o, c.args)),
        Command::Inventory(c) => at(&client(c.flags)?, |o| inventory::run(o, c.args)),
        Command::Kek(c) => offline(true).and_then(|()| kek::run(c.command, c.json || early.json)),
        Command::Config(c) => offline(true).and_then(|()| config::run(c.command, c.json || early.json)),
        Command::Serve(args) => offline(false).and_then(|()| serve::serve(args)),
        Command::Dev(args) => offline(false).and_then(|()| dev::run(args)),
        Command::Keygen(args) => offline(false).and_then(|()| keygen::run(args)),
        Command::Cert(cmd) => offline(false).and_then(|()| cert::run(cmd)),
        Command::Jwt(cmd) => offline(false).and_then(|()| jwt::run(cmd)),
        Command::Bench(cmd) => offline(false).and_then(|()| bench::run(cmd)),
        Command::Completions { shell } => offline(false).and_then(|()| completions(shell)),
        Command::Man { dir } => offline(false).and_then(|()| man(&dir)),
    }
}

/// Runs a client command, naming its endpoint in a refusal of the connection or the token.
fn at(opts: &ClientOptions, f: impl FnOnce(&ClientOptions) -> Result<(), CliError>) -> Result<(), CliError> {
    f(opts).map_err(|e| e.at(&opts.endpoint))
}

/// `keyward completions SHELL`: the script on stdout.
fn completions(shell: Shell) -> Result<(), CliError> {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keyward", &mut script);
    out::bytes(&script)
}

/// `keyward man --dir D`: keyward.1 and a page per subcommand, at every depth.
fn man(dir: &std::path::Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let mut cmd = Cli::command();
    cmd.build();
    clap_mangen::generate_to(cmd, dir).map_err(|e| crate::Error::io(dir, e))?;
    out::line(format_args!("wrote man pages to {} (keyward.1 and one per subcommand)", dir.display()))
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
    out::line(format_args!("{text}"))
}

/// A path argument.
type FilePath = PathBuf;

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn usage_errors_are_one_line_pointing_at_the_command_help() {
        let rendered = "error: unexpected argument '--clinet' found\n\n  tip: a similar argument exists: '--client'\n\n\
                        Usage: keyward credentials list --tenant <TENANT> --client <CLIENT>\n\n\
                        For more information, try '--help'.\n";
        let line = usage_line(rendered, args(&["credentials", "list", "--clinet", "x"]));
        assert_eq!(line, "unexpected argument '--clinet' found (see 'keyward credentials list --help')");
        assert_eq!(
            usage_line("error: bad", args(&["--endpoint", "http://x", "rotate"])),
            "bad (see 'keyward rotate --help')"
        );
        assert_eq!(usage_line("", args(&[])), "invalid arguments (see 'keyward --help')");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        let help = cmd.find_subcommand_mut("credentials").unwrap().render_help().to_string();
        assert!(help.contains(DEFAULT_ENDPOINT) && help.contains(connect::ENDPOINT_ENV), "{help}");
    }
}
