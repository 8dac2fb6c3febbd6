//! keyward-load: drives a running keyward over real gRPC/HTTP2 connections with many concurrent
//! callers and prints throughput, latency percentiles and status counts.

mod args;
mod call;
mod connect;
mod error;
mod pace;
mod report;
mod rotate;
mod run;
mod tally;
mod verify;
mod wire;

use std::path::Path;
use std::process::ExitCode;

use crate::args::{Parsed, Settings};
use crate::connect::Token;
use crate::error::Error;

/// The load generator shares the machine with the server it measures: mimalloc keeps its
/// allocations cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let settings = match args::parse(std::env::args_os()) {
        Ok(Parsed::Run(s)) => s,
        Ok(Parsed::Info(text)) => {
            // A reader that went away (`| head -1`) already has what it wanted.
            let _ = print_quietly(&text);
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
    };
    match execute(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("keyward-load: {e}");
    ExitCode::from(e.exit_code())
}

fn execute(settings: &Settings) -> Result<(), Error> {
    let token = Token::load(settings.token_file.as_deref())?;
    let verify_url = match &settings.verify {
        None => None,
        Some(v) => Some(match &v.url {
            Some(url) => url.clone(),
            None => dev_emulator_url()?,
        }),
    };
    let mut builder = match settings.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let runtime = builder.enable_all().build().map_err(|e| Error::Internal(format!("async runtime: {e}")))?;
    let report = runtime.block_on(run::run(settings, &token, verify_url.as_deref()))?;
    let summary = if settings.json {
        report.to_json().map_err(|e| Error::Internal(format!("JSON: {e}")))?
    } else {
        report.to_string()
    };
    // A closed stdout (`| head -3`) ends the summary quietly; the exit code still tells failures.
    print_quietly(&format!("{summary}\n")).map_err(|e| Error::Internal(format!("writing the summary: {e}")))?;
    let calls = report.ok + report.errors;
    // Any failed call fails a run at the default rate 0; the summary above is printed either way.
    if report.errors > 0 && report.errors as f64 > settings.max_error_rate * calls as f64 {
        return Err(Error::Failed { errors: report.errors, calls, max: settings.max_error_rate });
    }
    Ok(())
}

/// Writes `text` to stdout; a reader that stopped reading (BrokenPipe) is no error.
fn print_quietly(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The emulator URL `keyward dev` wrote into its default directory.
fn dev_emulator_url() -> Result<String, Error> {
    let path = Path::new(keyward_proto::DEV_DIR).join("emulator-url");
    if !path.exists() {
        return Err(Error::usage(
            "--verify-url",
            format!("not given and {} does not exist (is keyward dev running here?)", path.display()),
        ));
    }
    args::check_base_url(&connect::read("--verify-url", &path)?)
}
