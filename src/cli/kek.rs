//! `keyward kek rotate|rewrap|prune`: rotate the key-encryption key without downtime.
//!
//! `rotate` writes a ring with a new KEK first and the old ones behind it (so every key stays
//! openable, by this process and by servers still running on the old ring), then rewraps every
//! data key under the new KEK. Servers pick the new KEK up when restarted; keys they sealed in
//! the meantime are rewrapped by `rewrap`. `prune` drops previous KEKs no key references.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use super::out::outln;
use super::print_json;
use crate::Error;
use crate::config::{Config, KekSource, Overrides};
use crate::files::{SECRET_FILE_MODE, write_atomic};
use crate::kek::{self, KekRing};
use crate::seal::Kek;
use crate::store::{AuditEvent, AuditKind, AuditStore, SqlStore};

#[derive(Debug, Subcommand)]
pub(super) enum KekCommand {
    /// Put a new KEK in front of the ring and rewrap every data key under it.
    Rotate(RotateArgs),
    /// Rewrap every data key not yet under the ring's current KEK.
    Rewrap(CommonArgs),
    /// Drop previous KEKs that no key references any more.
    Prune(CommonArgs),
}

#[derive(Debug, Args)]
pub(super) struct CommonArgs {
    /// The service's configuration file (its store and KEK source are used).
    #[arg(long)]
    config: PathBuf,
    /// Where to write the new ring when the KEK comes from an environment variable (required
    /// then; load its contents into that variable before restarting servers).
    #[arg(long)]
    ring_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct RotateArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Use this KEK (32 bytes, base64 or hex, first line of the file) instead of a generated one.
    #[arg(long)]
    new_kek_file: Option<PathBuf>,
}

/// Writes `ring` where it belongs: over the KEK file, or to `--ring-out` for an env source.
fn save_ring(config: &Config, args: &CommonArgs, ring: &KekRing) -> Result<String, CliError> {
    let text = ring.to_text();
    match (&config.kek, &args.ring_out) {
        (KekSource::File(path), None) => {
            write_atomic(path, text.as_bytes(), SECRET_FILE_MODE)?;
            Ok(format!("ring written to {}", path.display()))
        }
        (KekSource::File(_), Some(_)) => {
            Err(CliError::usage("--ring-out", "only for a KEK from an environment variable (kek.env)"))
        }
        (KekSource::Env(var), Some(out)) => {
            write_atomic(out, text.as_bytes(), SECRET_FILE_MODE)?;
            Ok(format!("ring written to {}; load it into ${var} before restarting servers", out.display()))
        }
        (KekSource::Env(var), None) => Err(CliError::usage(
            "--ring-out",
            format!("required: the KEK comes from ${var}, which keyward cannot rewrite"),
        )),
    }
}

pub(super) fn run(cmd: KekCommand, as_json: bool) -> Result<(), CliError> {
    let args = match &cmd {
        KekCommand::Rotate(a) => &a.common,
        KekCommand::Rewrap(a) | KekCommand::Prune(a) => a,
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(&args.config, &env, &Overrides::default())?;
    let ring = KekRing::load(&config.kek)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let store = SqlStore::connect(&config.store_url).await?;
        let (ring, saved) = match &cmd {
            KekCommand::Rotate(a) => {
                let new = match &a.new_kek_file {
                    Some(p) => {
                        let text = zeroize::Zeroizing::new(crate::files::read_text(p)?);
                        KekRing::parse(&text)
                            .map_err(|e| CliError::usage("--new-kek-file", e.to_string()))?
                            .current
                            .as_ref()
                            .to_text()
                    }
                    None => Kek::generate(&mut crate::rng::os_rng()).to_text(),
                };
                let new = Kek::from_text(&new)?;
                if ring.all().iter().any(|k| k.id() == new.id()) {
                    return Err(CliError::usage("--new-kek-file", "that KEK is already in the ring"));
                }
                let rotated = ring.rotated(new);
                // The ring with both KEKs is durable before any key is rewrapped.
                let saved = save_ring(&config, args, &rotated)?;
                (rotated, Some(saved))
            }
            KekCommand::Rewrap(_) => (ring, None),
            KekCommand::Prune(_) => {
                let unused = kek::unused_previous(&store, &ring).await?;
                let pruned = ring.without(&unused);
                let saved = if unused.is_empty() { None } else { Some(save_ring(&config, args, &pruned)?) };
                let report = serde_json::json!({"current": pruned.current.id(), "pruned": unused,
                    "kept": pruned.previous.iter().map(|k| k.id()).collect::<Vec<_>>()});
                audit(&store, AuditKind::KekPruned, &report).await?;
                return finish(&report, saved, as_json);
            }
        };
        let report = kek::rewrap_all(&store, &ring).await?;
        for id in &report.unopenable {
            eprintln!("keyward: key {id} opens with no KEK in the ring; left as it is");
        }
        let json = serde_json::json!({"current": ring.current.id(), "rewrapped": report.rewrapped,
            "skipped": report.skipped, "unopenable": report.unopenable});
        let kind = if saved.is_some() { AuditKind::KekRotated } else { AuditKind::KekRewrapped };
        audit(&store, kind, &json).await?;
        finish(&json, saved, as_json)?;
        if report.unopenable.is_empty() { Ok(()) } else { Err(Error::Seal.into()) }
    })
}

/// Records a KEK operation (KEK ids and counts only) in the audit log.
async fn audit(store: &SqlStore, kind: AuditKind, report: &serde_json::Value) -> Result<(), CliError> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let event = AuditEvent::new(kind, format!("keyward kek (user {user})"), "", "kek", report.to_string());
    store.append_audit(&event).await?;
    Ok(())
}

fn finish(report: &serde_json::Value, saved: Option<String>, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print_json(report);
    }
    if let Some(s) = saved {
        outln!("{s}")?;
    }
    if let Some(obj) = report.as_object() {
        for (k, v) in obj {
            outln!("{k}: {v}")?;
        }
    }
    Ok(())
}
