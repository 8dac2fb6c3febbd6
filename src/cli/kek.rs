//! `keyward kek rotate|rewrap|prune`: rotate the key-encryption key without downtime.
//!
//! `rotate` writes a ring with a new KEK first and the old ones behind it (so every key stays
//! openable, by this process and by servers still running on the old ring), then rewraps every
//! data key under the new KEK. Servers pick the new KEK up when restarted; keys they sealed in
//! the meantime are rewrapped by `rewrap`. `prune` drops previous KEKs no key references.
//!
//! With `[kek] pkcs11` configured, `rotate --in-token LABEL` makes the new KEK an AES-256 key
//! inside the token (the ring then names it as `pkcs11:LABEL`), which is also how a deployment
//! moves from a file KEK to a token KEK; `init` creates `kek.pkcs11.key_label` in the token for a
//! deployment whose ring is that key alone.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use keyward_pkcs11::Token;

use super::CliError;
use super::out::outln;
use super::print_json;
use crate::Error;
use crate::config::{Config, KekSource, Overrides, label_problem};
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
    /// Create the AES-256 key `kek.pkcs11.key_label` in the token (nothing to do if it exists).
    Init(CommonArgs),
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
    #[arg(long, conflicts_with = "in_token")]
    new_kek_file: Option<PathBuf>,
    /// Make the new KEK an AES-256 key labelled LABEL inside the `[kek] pkcs11` token (created
    /// there, never extractable; an existing key of that label not yet in the ring is used).
    #[arg(long, value_name = "LABEL")]
    in_token: Option<String>,
}

/// Writes `ring` where it belongs: over the KEK file, or to `--ring-out` for an env source. A
/// token key that `kek.pkcs11.key_label` names comes from the configuration, not the file.
fn save_ring(config: &Config, args: &CommonArgs, ring: &KekRing) -> Result<String, CliError> {
    let from_config = config.kek.pkcs11.as_ref().and_then(|p| p.key_label.as_deref());
    let mut text = zeroize::Zeroizing::new(String::new());
    for kek in ring.all().into_iter().filter(|k| k.token_label().is_none() || k.token_label() != from_config) {
        text.push_str(&kek.to_text());
        text.push('\n');
    }
    let Some(source) = &config.kek.ring else {
        return Err(CliError::usage(
            "--config",
            "the KEK ring is kek.pkcs11.key_label alone, with no kek.file or kek.env to write",
        ));
    };
    match (source, &args.ring_out) {
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
        KekCommand::Rewrap(a) | KekCommand::Prune(a) | KekCommand::Init(a) => a,
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(&args.config, &env, &Overrides::default())?;
    if let KekCommand::Init(_) = cmd {
        return init(&config, as_json);
    }
    let (ring, token) = KekRing::open(&config.kek, 1)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let store = SqlStore::connect(&config.store_url).await?;
        let (ring, saved) = match &cmd {
            KekCommand::Rotate(a) => {
                if config.kek.pkcs11.as_ref().is_some_and(|p| p.key_label.is_some()) {
                    return Err(CliError::usage(
                        "--config",
                        "kek.pkcs11.key_label fixes the current KEK; to rotate, name token keys in the ring \
                         file instead (lines pkcs11:LABEL) and drop key_label",
                    ));
                }
                let new = match (&a.in_token, &token) {
                    (Some(label), Some(token)) => new_token_kek(token, label)?,
                    (Some(_), None) => return Err(CliError::usage("--in-token", "needs [kek] pkcs11 (the token)")),
                    (None, _) => new_memory_kek(a.new_kek_file.as_deref())?,
                };
                if ring.all().iter().any(|k| k.id() == new.id()) {
                    let flag = if a.in_token.is_some() { "--in-token" } else { "--new-kek-file" };
                    return Err(CliError::usage(flag, "that KEK is already in the ring"));
                }
                let rotated = ring.rotated(new);
                // The ring with both KEKs is durable before any key is rewrapped.
                let saved = save_ring(&config, args, &rotated)?;
                (rotated, Some(saved))
            }
            // Answered before the store was opened.
            KekCommand::Init(_) => return Ok(()),
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

/// A new KEK in memory: `file`'s first KEK, or a generated one.
fn new_memory_kek(file: Option<&std::path::Path>) -> Result<Kek, CliError> {
    let Some(p) = file else { return Ok(Kek::generate(&mut crate::rng::os_rng())) };
    let text = zeroize::Zeroizing::new(crate::files::read_text(p)?);
    let ring = KekRing::parse(&text, None).map_err(|e| CliError::usage("--new-kek-file", e.to_string()))?;
    Ok(Kek::from_text(&ring.current.to_text())?)
}

/// A new KEK in the token: the AES-256 key `label`, created unless a key of that label exists
/// (a rotation interrupted after creating it is simply run again).
fn new_token_kek(token: &Token, label: &str) -> Result<Kek, CliError> {
    if let Some(problem) = label_problem(label, 64) {
        return Err(CliError::usage("--in-token", format!("the label {problem}")));
    }
    if !token.aes_key_exists(label).map_err(Error::Custody)? {
        token.create_aes_key(label).map_err(Error::Custody)?;
    }
    Ok(Kek::in_token(token.clone(), label))
}

/// `keyward kek init`: creates `kek.pkcs11.key_label` in the token unless it is there.
fn init(config: &Config, as_json: bool) -> Result<(), CliError> {
    let Some(p11) = &config.kek.pkcs11 else {
        return Err(CliError::usage("--config", "has no [kek] pkcs11 token to create a KEK in"));
    };
    let Some(label) = p11.key_label.as_deref() else {
        return Err(CliError::usage("--config", "names no kek.pkcs11.key_label to create"));
    };
    let token = kek::open_token(p11, 1)?;
    let created = !token.aes_key_exists(label).map_err(Error::Custody)?;
    if created {
        token.create_aes_key(label).map_err(Error::Custody)?;
    }
    let kek = Kek::in_token(token, label);
    let report = serde_json::json!({"kek": kek.id(), "token": p11.token_label, "created": created});
    finish(&report, None, as_json)
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
