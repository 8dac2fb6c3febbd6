//! The `keyward` binary: parse the command line, run it, report one line on failure.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keyward::cli::Cli::parse();
    // Log lines (causes of INTERNAL errors, saga events) go to stderr, never secrets.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_ansi(false).init();
    match keyward::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keyward: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
