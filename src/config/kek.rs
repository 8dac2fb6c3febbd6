//! `[kek]`: where the key-encryption key comes from, a file or an environment variable;
//! `KEYWARD_KEK_FILE` and `KEYWARD_KEK_ENV` override the file's choice.

use std::path::PathBuf;

use serde::Deserialize;

use super::source::{Env, Setting};

const FILE: Setting = Setting::env("kek.file", "KEYWARD_KEK_FILE");
const ENV: Setting = Setting::env("kek.env", "KEYWARD_KEK_ENV");

#[derive(Debug, Deserialize)]
pub(super) struct KekFile {
    file: Option<PathBuf>,
    env: Option<String>,
}

/// Where the key-encryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A file holding 32 bytes in base64 or hex.
    File(PathBuf),
    /// An environment variable holding the same.
    Env(String),
}

/// Resolves `[kek]` with its variables: exactly one source must remain.
pub(super) fn resolve(file: Option<KekFile>, env: &Env, errors: &mut Vec<String>) -> KekSource {
    let (path, var) = file.map_or((None, None), |k| (k.file, k.env));
    let path = FILE.pick(None, env, path).read(PathBuf::from);
    let var = ENV.pick(None, env, var).read(str::to_owned);
    match (path, var) {
        (Some(f), None) => KekSource::File(f),
        (None, Some(v)) => KekSource::Env(v),
        (Some(_), Some(_)) => {
            errors.push("kek: set one of kek.file and kek.env, not both".into());
            KekSource::Env(String::new())
        }
        (None, None) => {
            errors.push("kek: set kek.file or kek.env (or KEYWARD_KEK_FILE / KEYWARD_KEK_ENV)".into());
            KekSource::Env(String::new())
        }
    }
}
