//! Signing throughput through a PKCS#11 token (e.g. SoftHSM2) beside in-memory AWS-LC, per JWS
//! algorithm, on one thread and on N threads: the cost of the PKCS#11 path.
//!
//! For each of RS256 and PS256 (RSA-2048), ES256 (P-256) and ES384 (P-384) it generates a key
//! pair in the token and one in memory with AWS-LC, checks that each side's signature verifies,
//! then counts signatures of a 300-byte message (the size of a client assertion's signing input)
//! over a fixed wall time after a warm-up, interleaving the two sides. The token side signs
//! through [`TokenSigner`] on the token's session pool, sized to the thread count. Prints a
//! Markdown table.
//!
//! ```text
//! KEYWARD_PKCS11_PIN=… SOFTHSM2_CONF=… cargo run --release -p keyward-pkcs11 --example bench_sign -- \
//!     [--seconds 3] [--threads N] [--module /usr/lib/softhsm/libsofthsm2.so] [--token keyward-bench]
//! ```
//!
//! `--threads` defaults to the available parallelism. The keys it generates are destroyed at the
//! end; `benches/bench-pkcs11.sh` runs it on a throw-away SoftHSM2 token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyward_crypto::{Algorithm, Backend, KeySpec, Signer, aws_lc_generate, aws_lc_verify, signer_for};
use keyward_pkcs11::{Token, TokenConfig, TokenSigner};
use zeroize::Zeroizing;

/// The message signed: as long as a typical client assertion's signing input.
const MESSAGE: [u8; 300] = [0x61; 300];
/// The algorithms measured, with the key each needs.
const CASES: [(Algorithm, KeySpec, &str); 4] = [
    (Algorithm::RS256, KeySpec::Rsa(2048), "RS256 (RSA-2048)"),
    (Algorithm::PS256, KeySpec::Rsa(2048), "PS256 (RSA-2048)"),
    (Algorithm::ES256, KeySpec::P256, "ES256 (P-256)"),
    (Algorithm::ES384, KeySpec::P384, "ES384 (P-384)"),
];

/// The command line.
struct Options {
    seconds: f64,
    threads: usize,
    module: String,
    token: String,
}

const USAGE: &str = "usage: bench_sign [--seconds N] [--threads N] [--module PATH] [--token LABEL] \
                     (PIN from KEYWARD_PKCS11_PIN)";

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        seconds: 3.0,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        token: "keyward-bench".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("{flag}: not a positive number: {value}");
        match flag.as_str() {
            "--seconds" => opts.seconds = value.parse::<f64>().map_err(|_| bad())?,
            "--threads" => opts.threads = value.parse::<usize>().map_err(|_| bad())?,
            "--module" => opts.module = value,
            "--token" => opts.token = value,
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if !(opts.seconds > 0.0 && opts.seconds.is_finite()) || opts.threads == 0 {
        return Err(format!("--seconds and --threads must be positive\n{USAGE}"));
    }
    Ok(opts)
}

/// Signatures per second of `signer` on `threads` threads over `duration` (after a warm-up of a
/// sixth of it, at most one second, on the same threads).
fn measure(signer: &dyn Signer, threads: usize, duration: Duration) -> f64 {
    let warmup = (duration / 6).min(Duration::from_secs(1));
    let total = AtomicU64::new(0);
    let barrier = Barrier::new(threads);
    let elapsed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
                    let warm_end = Instant::now() + warmup;
                    while Instant::now() < warm_end {
                        signer.sign(&mut rng, &MESSAGE).expect("sign (warm-up)");
                    }
                    barrier.wait();
                    let start = Instant::now();
                    let end = start + duration;
                    let mut n = 0u64;
                    while Instant::now() < end {
                        signer.sign(&mut rng, &MESSAGE).expect("sign");
                        n += 1;
                    }
                    let elapsed = start.elapsed();
                    total.fetch_add(n, Ordering::Relaxed);
                    elapsed
                })
            })
            .collect();
        // The slowest thread's window: every thread ran at least `duration`.
        workers.into_iter().map(|w| w.join().expect("worker")).max().unwrap_or(duration)
    });
    total.into_inner() as f64 / elapsed.as_secs_f64()
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(64);
        }
    };
    let Ok(pin) = std::env::var("KEYWARD_PKCS11_PIN") else {
        eprintln!("KEYWARD_PKCS11_PIN is not set (the token's user PIN)\n{USAGE}");
        return ExitCode::from(64);
    };
    let mut config = TokenConfig::new(&opts.module, &opts.token, Zeroizing::new(pin));
    config.sessions = opts.threads;
    let token = match Token::open(config) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("opening token {:?} through {}: {e}", opts.token, opts.module);
            return ExitCode::from(69);
        }
    };

    let duration = Duration::from_secs_f64(opts.seconds);
    let mut thread_counts = vec![1];
    if opts.threads > 1 {
        thread_counts.push(opts.threads);
    }
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut labels = Vec::new();

    println!("| algorithm | threads | token sig/s | aws-lc sig/s | token / aws-lc | token µs/sig |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (alg, spec, name) in CASES {
        let label = format!("bench-{}-{}", alg.as_str().to_lowercase(), std::process::id());
        let key = token.generate_key_pair(spec, &label).expect("generate the key pair in the token");
        labels.push(label);
        let in_token = TokenSigner::new(token.clone(), key, alg).expect("token signer");
        let private = aws_lc_generate(spec).expect("generate the key with AWS-LC");
        let in_memory = signer_for(Backend::AwsLc, &private, alg).expect("AWS-LC signer");
        for signer in [&in_token as &dyn Signer, &*in_memory] {
            let sig = signer.sign(&mut rng, &MESSAGE).expect("sign");
            aws_lc_verify(alg, signer.public_key(), &MESSAGE, &sig).expect("the signature verifies");
        }
        for &threads in &thread_counts {
            let token_rate = measure(&in_token, threads, duration);
            let aws_rate = measure(&*in_memory, threads, duration);
            // Wall time of one signature on one of the threads.
            let us = threads as f64 * 1e6 / token_rate;
            println!(
                "| {name} | {threads} | {token_rate:.0} | {aws_rate:.0} | {:.1}% | {us:.1} |",
                100.0 * token_rate / aws_rate
            );
        }
    }
    for label in labels {
        if let Err(e) = token.destroy_key(&label) {
            eprintln!("could not destroy {label}: {e}");
        }
    }
    let stats = token.pool_stats();
    println!();
    println!(
        "{}s per measurement after a warm-up; token {:?} via {}; session pool of {} (peak in use {}).",
        opts.seconds, opts.token, opts.module, stats.size, stats.peak_in_use
    );
    ExitCode::SUCCESS
}
