//! The KEK ring and KEK rotation.
//!
//! A KEK source (file or environment variable) holds one KEK per line: the first seals new keys,
//! the others only open keys sealed before a rotation. `keyward kek rotate` puts a new KEK first,
//! keeps the old ones behind it, and rewraps every data key under the new one. Servers still
//! running on the old ring keep working (their KEK is still in the ring and still opens), so the
//! rotation needs no downtime; they pick up the new KEK on their next restart. A previous KEK is
//! pruned only once no key in the store references it.
//!
//! A ring line `pkcs11:LABEL` names an AES-256 key inside the configured PKCS#11 token instead of
//! holding key bytes; `[kek] pkcs11.key_label` puts such a key in front of the ring (or makes the
//! whole ring, with no file at all). Migrating from a file KEK to a token KEK is a rotation:
//! `keyward kek rotate --in-token LABEL` creates the key in the token, puts `pkcs11:LABEL` first
//! and rewraps every data key; `keyward kek prune` then drops the file KEK.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::Error;
use keyward_pkcs11::{Token, TokenConfig};

use crate::config::{KekConfig, KekSource, Pkcs11Config};
use crate::seal::{self, Kek, KeyIdentity, TOKEN_KEK_PREFIX};
use crate::store::Store;

/// The current KEK and the previous ones still needed to open older keys.
#[derive(Debug, Clone)]
pub struct KekRing {
    /// Seals new keys.
    pub current: Arc<Kek>,
    /// Open keys sealed before the last rotation.
    pub previous: Vec<Arc<Kek>>,
}

impl KekRing {
    /// Parses one KEK per line (base64 or hex, or `pkcs11:LABEL` for a key in `token`); blank
    /// lines and `#` comments are skipped.
    pub fn parse(text: &str, token: Option<&Token>) -> Result<Self, Error> {
        let mut keks = parse_lines(text, token)?.into_iter();
        let current = keks.next().ok_or_else(|| Error::Kek("no KEK found".into()))?;
        Ok(Self { current, previous: keks.collect() })
    }

    /// Reads the ring as `[kek]` configures it: the token's `key_label` first (if set), then
    /// the ring source's KEKs. Every token KEK must exist in the token.
    pub fn load(config: &KekConfig, token: Option<&Token>) -> Result<Self, Error> {
        let mut keks = Vec::new();
        if let Some(label) = config.pkcs11.as_ref().and_then(|p| p.key_label.as_deref()) {
            let token = token.ok_or_else(|| Error::Kek("kek.pkcs11.key_label: the token is not open".into()))?;
            keks.push(Arc::new(Kek::in_token(token.clone(), label)));
        }
        if let Some(source) = &config.ring {
            let ring = Self::read(source, token)?;
            for kek in std::iter::once(ring.current).chain(ring.previous) {
                if !keks.iter().any(|k| k.id() == kek.id()) {
                    keks.push(kek);
                }
            }
        }
        for kek in &keks {
            kek.check_in_token()?;
        }
        let mut keks = keks.into_iter();
        let current = keks.next().ok_or_else(|| Error::Kek("no KEK found".into()))?;
        Ok(Self { current, previous: keks.collect() })
    }

    /// Opens `[kek]`'s token (if any, on `sessions` sessions) and loads the ring through it: what
    /// `serve`, `config check` and `keyward kek` start with. Problems are worded for `kek: …`.
    pub fn open(config: &KekConfig, sessions: usize) -> Result<(Self, Option<Token>), Error> {
        let token = config.pkcs11.as_ref().map(|p| open_token(p, sessions)).transpose()?;
        Ok((Self::load(config, token.as_ref())?, token))
    }

    /// Reads a ring from its source alone.
    pub fn read(source: &KekSource, token: Option<&Token>) -> Result<Self, Error> {
        match source {
            KekSource::File(path) => {
                let text = Zeroizing::new(crate::files::read_text(path)?);
                Self::parse(&text, token).map_err(|e| Error::Kek(format!("{}: {}", path.display(), kek_reason(&e))))
            }
            KekSource::Env(var) => {
                let text = Zeroizing::new(
                    std::env::var(var).map_err(|_| Error::Kek(format!("${var} is not set or not UTF-8")))?,
                );
                Self::parse(&text, token).map_err(|e| Error::Kek(format!("${var}: {}", kek_reason(&e))))
            }
        }
    }

    /// Every KEK, current first.
    pub fn all(&self) -> Vec<&Kek> {
        std::iter::once(&*self.current).chain(self.previous.iter().map(|k| &**k)).collect()
    }

    /// The text form: one KEK per line (base64, or `pkcs11:LABEL`), current first.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for kek in self.all() {
            out.push_str(&kek.to_text());
            out.push('\n');
        }
        out
    }

    /// A ring with `new` in front of this one.
    pub fn rotated(&self, new: Kek) -> Self {
        let mut previous = vec![self.current.clone()];
        previous.extend(self.previous.iter().cloned());
        Self { current: Arc::new(new), previous }
    }

    /// This ring without the previous KEKs in `unused`.
    pub fn without(&self, unused: &[String]) -> Self {
        let previous = self.previous.iter().filter(|k| !unused.iter().any(|u| u == k.id())).cloned().collect();
        Self { current: self.current.clone(), previous }
    }
}

fn parse_lines(text: &str, token: Option<&Token>) -> Result<Vec<Arc<Kek>>, Error> {
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    lines.map(|l| kek_from_line(l, token).map(Arc::new)).collect()
}

fn kek_from_line(line: &str, token: Option<&Token>) -> Result<Kek, Error> {
    let Some(label) = line.strip_prefix(TOKEN_KEK_PREFIX) else { return Kek::from_text(line) };
    if let Some(problem) = crate::config::label_problem(label, 64) {
        return Err(Error::Kek(format!("{TOKEN_KEK_PREFIX}{}: the label {problem}", label.escape_debug())));
    }
    let token = token.ok_or_else(|| {
        Error::Kek(format!("{TOKEN_KEK_PREFIX}{label} names a key in a PKCS#11 token: configure [kek] pkcs11"))
    })?;
    Ok(Kek::in_token(token.clone(), label))
}

impl From<Arc<Kek>> for KekRing {
    /// A ring of one KEK.
    fn from(current: Arc<Kek>) -> Self {
        Self { current, previous: Vec::new() }
    }
}

fn kek_reason(e: &Error) -> String {
    match e {
        Error::Kek(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// Opens `config`'s token and logs in with the PIN from its `pin_env` variable, on a pool of
/// `sessions` sessions (one per signing thread, at least one). The PIN is read here and kept only
/// inside the token handle; no error names it.
pub fn open_token(config: &Pkcs11Config, sessions: usize) -> Result<Token, Error> {
    let pin = std::env::var(&config.pin_env)
        .map_err(|_| Error::Kek(format!("kek.pkcs11.pin_env: ${} is not set or not UTF-8", config.pin_env)))?;
    let mut token = TokenConfig::new(&config.module, &config.token_label, Zeroizing::new(pin));
    token.sessions = sessions.max(1);
    Token::open(token).map_err(Error::Custody)
}

/// What a rewrap pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RewrapReport {
    /// Keys rewrapped under the current KEK.
    pub rewrapped: usize,
    /// Keys that changed under us (retired or rewrapped meanwhile) and were skipped.
    pub skipped: usize,
    /// Keys no KEK in the ring opens (never expected; each is named on stderr).
    pub unopenable: Vec<String>,
}

/// Rewraps every live key not yet under the ring's current KEK. Each key is one compare-and-set
/// update of its wrapped data key; the sealed key itself never changes, so a crash mid-way leaves
/// every key openable by the ring.
pub async fn rewrap_all(store: &dyn Store, ring: &KekRing) -> Result<RewrapReport, Error> {
    let mut report = RewrapReport::default();
    let keks = ring.all();
    for key in store.keys_sealed_by_other(ring.current.id()).await? {
        let who = KeyIdentity { tenant: &key.tenant, client_id: &key.client_id, key_id: &key.key_id };
        let sealed = match seal::rewrap(&keks, &ring.current, who, &key.sealed, &mut crate::rng::os_rng()) {
            Ok(s) => s,
            Err(_) => {
                report.unopenable.push(key.key_id.clone());
                continue;
            }
        };
        if store.rewrap_key(&key.key_id, &key.sealed.kek_id, &sealed).await? {
            report.rewrapped += 1;
        } else {
            report.skipped += 1;
        }
    }
    Ok(report)
}

/// The previous KEKs of `ring` that no live key references any more.
pub async fn unused_previous(store: &dyn Store, ring: &KekRing) -> Result<Vec<String>, Error> {
    let in_use: Vec<String> =
        store.keys_sealed_by_other(ring.current.id()).await?.into_iter().map(|k| k.sealed.kek_id).collect();
    Ok(ring.previous.iter().map(|k| k.id().to_owned()).filter(|id| !in_use.contains(id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    #[test]
    fn ring_text_round_trips_current_first() {
        let ring = KekRing::parse(&Kek::generate(&mut rng()).to_text(), None).unwrap();
        assert!(ring.previous.is_empty());
        let rotated = ring.rotated(Kek::generate(&mut rng()));
        let text = rotated.to_text();
        let parsed = KekRing::parse(&format!("# comment\n\n{}", text.as_str()), None).unwrap();
        assert_eq!(parsed.current.id(), rotated.current.id());
        assert_eq!(parsed.previous[0].id(), ring.current.id());
        let pruned = parsed.without(&[ring.current.id().to_owned()]);
        assert!(pruned.previous.is_empty());
        assert!(matches!(KekRing::parse("# nothing\n", None), Err(Error::Kek(_))));
        assert!(matches!(KekRing::parse(&format!("{}\nnot-a-kek\n", text.as_str()), None), Err(Error::Kek(_))));
        // A token key needs the token; a bad label is refused before any token is asked.
        let e = KekRing::parse(&format!("pkcs11:kek-a\n{}", text.as_str()), None).unwrap_err();
        assert!(e.to_string().contains("pkcs11:kek-a names a key in a PKCS#11 token: configure [kek] pkcs11"), "{e}");
        let e = KekRing::parse("pkcs11:\n", None).unwrap_err();
        assert!(e.to_string().contains("must be 1 to 64 characters"), "{e}");
    }
}
