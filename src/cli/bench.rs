//! `keyward bench sign`: signatures per second on N threads for one algorithm and backend.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use keyward_crypto::{Backend, KeySpec, PrivateKey, Signer, signer_for};
use serde::Serialize;

use super::CliError;
use super::out::outln;
use super::{KeyChoice, parse_backend, print_json};
use crate::rng::os_rng;

#[derive(Debug, Subcommand)]
pub(super) enum BenchCommand {
    /// Sign a 300-byte message (the size of a client assertion's signing input) in a loop.
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub(super) struct SignArgs {
    #[command(flatten)]
    key: KeyChoice,
    /// aws-lc (default when built) or rustcrypto.
    #[arg(long, value_parser = parse_backend)]
    backend: Option<Backend>,
    /// Threads to sign on (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    alg: String,
    backend: String,
    threads: usize,
    ops: u64,
    seconds: f64,
    ops_per_s: f64,
}

pub(super) fn run(cmd: BenchCommand) -> Result<(), CliError> {
    let BenchCommand::Sign(args) = cmd;
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(CliError::usage("--seconds", "must be greater than 0 and at most 3600"));
    }
    let threads = match args.threads {
        Some(0) => return Err(CliError::usage("--threads", "must be at least 1")),
        Some(n) => n.min(1024),
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let spec =
        KeySpec::for_algorithm(args.key.alg, args.key.bits).map_err(|e| CliError::usage("--bits", e.to_string()))?;
    let backend = args.backend.unwrap_or_else(Backend::fastest);
    let key = match backend {
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => keyward_crypto::aws_lc_generate(spec)?,
        _ => PrivateKey::generate(spec, &mut os_rng())?,
    };
    let signer = signer_for(backend, &key, args.key.alg)?;
    let report = measure(&*signer, threads, Duration::from_secs_f64(args.seconds))?;
    let report = Report { alg: args.key.alg.to_string(), backend: backend.to_string(), threads, ..report };
    if args.json {
        print_json(&report)
    } else {
        outln!(
            "{} {} on {} thread(s): {:.0} signatures/s ({} in {:.2}s)",
            report.alg,
            report.backend,
            report.threads,
            report.ops_per_s,
            report.ops,
            report.seconds
        )?;
        Ok(())
    }
}

fn measure(signer: &dyn Signer, threads: usize, duration: Duration) -> Result<Report, CliError> {
    let message = [b'k'; 300];
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let counts: Vec<Result<u64, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut rng = os_rng();
                    let mut ops = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        signer.sign(&mut rng, &message)?;
                        ops += 1;
                    }
                    Ok(ops)
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap_or(Err(CliError::BenchPanicked))).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let ops = counts.into_iter().sum::<Result<u64, CliError>>()?;
    Ok(Report { alg: String::new(), backend: String::new(), threads, ops, seconds, ops_per_s: ops as f64 / seconds })
}
