//! `keyward-auth0-emulator`: a local Auth0 tenant on a port of your choosing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use keyward_auth0_emulator::{EmulatorConfig, Error, Seed, TlsIdentity, start};

/// A faithful local Auth0: Management API credentials, clients and connection keys, and
/// /oauth/token, for tests and development.
#[derive(Debug, Parser)]
#[command(name = "keyward-auth0-emulator", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The seed file (JSON); ignored when --state-file exists.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Tenant domain (iss = https://DOMAIN/); defaults to HOST:PORT.
    #[arg(long)]
    domain: Option<String>,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost.
    #[arg(long)]
    tls_self_signed: bool,
    /// Where to write that certificate (PEM) for clients to trust.
    #[arg(long, requires = "tls_self_signed")]
    tls_cert_out: Option<PathBuf>,
    /// Write the base URL to this file.
    #[arg(long)]
    url_file: Option<PathBuf>,
    /// Keep the tenant in this file across restarts.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Do not serve the /__emulator/ control API.
    #[arg(long)]
    no_control: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyward-auth0-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("keyward-auth0-emulator: {message}");
            ExitCode::from(code)
        }
    }
}

/// Exit 64 for bad configuration (a seed, a flag), 1 for anything else.
async fn run(args: Args) -> Result<(), (u8, String)> {
    let config_err = |e: Error| (64, e.to_string());
    let state_exists = args.state_file.as_ref().is_some_and(|p| p.exists());
    let seed = match (&args.seed, state_exists) {
        (Some(path), true) => {
            eprintln!(
                "keyward-auth0-emulator: state file {} exists; --seed {} is ignored",
                args.state_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                path.display()
            );
            Seed::default()
        }
        (Some(path), false) => {
            let text = std::fs::read_to_string(path).map_err(|e| (64, format!("{}: {e}", path.display())))?;
            Seed::from_json(&text).map_err(|e| (64, format!("{}: {e}", path.display())))?
        }
        (None, true) => Seed::default(),
        (None, false) => return Err((64, "--seed FILE is required unless --state-file names an existing file".into())),
    };
    let tls = if args.tls_self_signed { Some(TlsIdentity::self_signed().map_err(config_err)?) } else { None };
    if let (Some(out), Some(id)) = (&args.tls_cert_out, &tls) {
        std::fs::write(out, &id.cert_pem).map_err(|e| (1, format!("{}: {e}", out.display())))?;
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| (64, format!("--listen {}: {e}", args.listen)))?;
    let config =
        EmulatorConfig { domain: args.domain, seed, state_file: args.state_file, control: !args.no_control, tls };
    let emulator = start(listener, config).await.map_err(|e| match e {
        Error::Seed(_) | Error::StateFile { .. } => (64, e.to_string()),
        other => (1, other.to_string()),
    })?;
    let url = emulator.base_url();
    // The URL file is complete before the first stdout line, so a reader of either sees a ready server.
    if let Some(path) = &args.url_file {
        write_atomically(path, format!("{url}\n").as_bytes()).map_err(|e| (1, format!("{}: {e}", path.display())))?;
    }
    // Written without println!, which panics once the reader has closed the pipe (a test that
    // read the first line and dropped its end): the emulator must keep serving regardless.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {url}");
    let _ = writeln!(out, "tenant domain {}", emulator.domain());
    let _ = out.flush();
    drop(out);
    wait_for_signal().await;
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Writes `bytes` to a sibling temporary file and renames it over `path`.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
