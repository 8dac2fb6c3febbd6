//! Standard output for commands: a reader that stops reading (`| head -1`) ends the command
//! quietly instead of panicking as `println!` does.

use std::io::{self, Write};

use super::CliError;

/// Writes one line on stdout; a closed pipe becomes [`CliError::StdoutClosed`] (exit 0, nothing
/// said), any other failure [`CliError::Output`].
pub(crate) fn line(args: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).map_err(closed_or_output)
}

/// Writes `bytes` on stdout as they are.
pub(crate) fn bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(closed_or_output)
}

fn closed_or_output(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe { CliError::StdoutClosed } else { CliError::output(e) }
}

/// `println!` for commands: returns a `Result` to pass on with `?`.
macro_rules! outln {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
