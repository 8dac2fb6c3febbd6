//! The `keyward` binary: parse the command line, run it, report one line on failure (one per
//! problem for a bad configuration).

use std::process::ExitCode;

use keyward::cli::CliError;

/// mimalloc: per-thread heaps make the signing path's allocations, freed on other threads (the
/// signing pool, the HTTP/2 tasks), cheap; glibc malloc spent ~13% of an ES256 call there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match keyward::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    // Log lines (causes of INTERNAL errors, saga events) go to stderr, never secrets. `serve`
    // and `dev` install their own subscriber with the OTLP exporter when one is configured.
    if !cli.is_service() {
        keyward::telemetry::init_logs();
    }
    match keyward::cli::run(cli) {
        // The reader of stdout stopped reading (`| head -1`): done, nothing to say.
        Ok(()) | Err(CliError::StdoutClosed) => ExitCode::SUCCESS,
        Err(err) => {
            match &err {
                // Every configuration problem on a line of its own, each a complete message.
                CliError::Service(keyward::Error::Config(problems)) if !problems.is_empty() => {
                    for problem in problems {
                        eprintln!("keyward: configuration: {problem}");
                    }
                }
                _ => eprintln!("keyward: {err}"),
            }
            ExitCode::from(err.exit_code())
        }
    }
}
