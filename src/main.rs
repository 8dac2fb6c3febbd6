//! The `keyward` binary: parse the command line, run it, report one line on failure.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keyward::cli::Cli::parse();
    match keyward::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keyward: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
