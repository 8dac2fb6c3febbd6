//! The KEK ring and KEK rotation.
//!
//! A KEK source (file or environment variable) holds one KEK per line: the first seals new keys,
//! the others only open keys sealed before a rotation. `keyward kek rotate` puts a new KEK first,
//! keeps the old ones behind it, and rewraps every data key under the new one. Servers still
//! running on the old ring keep working (their KEK is still in the ring and still opens), so the
//! rotation needs no downtime; they pick up the new KEK on their next restart. A previous KEK is
//! pruned only once no key in the store references it.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::Error;
use crate::config::KekSource;
use crate::seal::{self, Kek, KeyIdentity};
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
    /// Parses one KEK per line (base64 or hex); blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut keks = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Kek::from_text(l).map(Arc::new));
        let current = keks.next().ok_or_else(|| Error::Kek("no KEK found".into()))??;
        let previous = keks.collect::<Result<Vec<_>, _>>()?;
        Ok(Self { current, previous })
    }

    /// Reads the ring from its configured source.
    pub fn load(source: &KekSource) -> Result<Self, Error> {
        match source {
            KekSource::File(path) => {
                let text = Zeroizing::new(crate::files::read_text(path)?);
                Self::parse(&text).map_err(|e| Error::Kek(format!("{}: {}", path.display(), kek_reason(&e))))
            }
            KekSource::Env(var) => {
                let text = Zeroizing::new(
                    std::env::var(var).map_err(|_| Error::Kek(format!("${var} is not set or not UTF-8")))?,
                );
                Self::parse(&text).map_err(|e| Error::Kek(format!("${var}: {}", kek_reason(&e))))
            }
        }
    }

    /// Every KEK, current first.
    pub fn all(&self) -> Vec<&Kek> {
        std::iter::once(&*self.current).chain(self.previous.iter().map(|k| &**k)).collect()
    }

    /// The text form: one base64 KEK per line, current first.
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
        let ring = KekRing::parse(&Kek::generate(&mut rng()).to_text()).unwrap();
        assert!(ring.previous.is_empty());
        let rotated = ring.rotated(Kek::generate(&mut rng()));
        let text = rotated.to_text();
        let parsed = KekRing::parse(&format!("# comment\n\n{}", text.as_str())).unwrap();
        assert_eq!(parsed.current.id(), rotated.current.id());
        assert_eq!(parsed.previous[0].id(), ring.current.id());
        let pruned = parsed.without(&[ring.current.id().to_owned()]);
        assert!(pruned.previous.is_empty());
        assert!(matches!(KekRing::parse("# nothing\n"), Err(Error::Kek(_))));
        assert!(matches!(KekRing::parse(&format!("{}\nnot-a-kek\n", text.as_str())), Err(Error::Kek(_))));
    }
}
