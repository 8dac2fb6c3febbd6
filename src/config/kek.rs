//! `[kek]`: where the key-encryption key comes from: a ring in a file or an environment
//! variable, a key inside a PKCS#11 token, or both while migrating from one to the other.
//! `KEYWARD_KEK_FILE`, `KEYWARD_KEK_ENV` and the `KEYWARD_PKCS11_*` variables override the file.
//!
//! ```toml
//! [kek]
//! file = "/etc/keyward/kek.ring"          # optional once the KEK lives in the token
//! pkcs11 = { module = "/usr/lib/softhsm/libsofthsm2.so", token_label = "keyward",
//!            pin_env = "KEYWARD_PKCS11_PIN", key_label = "keyward-kek" }
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::source::{Env, Setting};

const FILE: Setting = Setting::env("kek.file", "KEYWARD_KEK_FILE");
const ENV: Setting = Setting::env("kek.env", "KEYWARD_KEK_ENV");
const MODULE: Setting = Setting::env("kek.pkcs11.module", "KEYWARD_PKCS11_MODULE").naming_the_layer();
const TOKEN: Setting = Setting::env("kek.pkcs11.token_label", "KEYWARD_PKCS11_TOKEN").naming_the_layer();
const PIN_ENV: Setting = Setting::env("kek.pkcs11.pin_env", "KEYWARD_PKCS11_PIN_ENV").naming_the_layer();
const KEY_LABEL: Setting = Setting::env("kek.pkcs11.key_label", "KEYWARD_PKCS11_KEY_LABEL").naming_the_layer();

/// The environment variable holding the token's user PIN unless `pin_env` names another.
pub const DEFAULT_PIN_ENV: &str = "KEYWARD_PKCS11_PIN";
/// The longest token or key label keyward accepts (PKCS#11 pads token labels to 32 bytes).
pub const MAX_TOKEN_LABEL: usize = 32;
const MAX_KEY_LABEL: usize = 64;

#[derive(Debug, Deserialize)]
pub(super) struct KekFile {
    file: Option<PathBuf>,
    env: Option<String>,
    pkcs11: Option<Pkcs11File>,
}

#[derive(Debug, Deserialize)]
struct Pkcs11File {
    module: Option<PathBuf>,
    token_label: Option<String>,
    pin_env: Option<String>,
    key_label: Option<String>,
}

/// Where a KEK ring (one KEK per line, current first) is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// A file holding the ring.
    File(PathBuf),
    /// An environment variable holding the same.
    Env(String),
}

/// The PKCS#11 token keyward uses for its KEK and for keys kept in custody there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The environment variable holding the user PIN (never the PIN itself).
    pub pin_env: String,
    /// The label of the AES-256 key in the token that seals new keys, when the KEK lives there.
    pub key_label: Option<String>,
}

/// `[kek]` resolved: a ring source, a token, or both (the token's key first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekConfig {
    /// The ring of KEKs in a file or variable; lines may name token keys as `pkcs11:LABEL`.
    pub ring: Option<KekSource>,
    /// The token, if one is configured.
    pub pkcs11: Option<Pkcs11Config>,
}

impl KekConfig {
    /// A ring read from `path` and no token.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { ring: Some(KekSource::File(path.into())), pkcs11: None }
    }
}

/// Resolves `[kek]` with its variables: a ring source (at most one of file and env), or a token
/// key, or both.
pub(super) fn resolve(file: Option<KekFile>, env: &Env, errors: &mut Vec<String>) -> KekConfig {
    let (path, var, p11) = file.map_or((None, None, None), |k| (k.file, k.env, k.pkcs11));
    let path = FILE.pick(None, env, path).read(PathBuf::from);
    let var = ENV.pick(None, env, var).read(str::to_owned);
    let (pkcs11, key_label_given) = resolve_pkcs11(p11, env, errors);
    let ring = match (path, var) {
        (Some(f), None) => Some(KekSource::File(f)),
        (None, Some(v)) => Some(KekSource::Env(v)),
        (Some(_), Some(_)) => {
            errors.push("kek: set one of kek.file and kek.env, not both".into());
            None
        }
        // A token key is the ring (or its problem is reported already).
        (None, None) if key_label_given => None,
        (None, None) => {
            errors.push(
                "kek: set kek.file, kek.env or kek.pkcs11.key_label (or KEYWARD_KEK_FILE / KEYWARD_KEK_ENV / \
                 KEYWARD_PKCS11_KEY_LABEL)"
                    .into(),
            );
            None
        }
    };
    KekConfig { ring, pkcs11 }
}

/// The token, if one is configured and valid, and whether a key label was given at all.
fn resolve_pkcs11(file: Option<Pkcs11File>, env: &Env, errors: &mut Vec<String>) -> (Option<Pkcs11Config>, bool) {
    let (module, token, pin_env, key_label) =
        file.map_or((None, None, None, None), |p| (p.module, p.token_label, p.pin_env, p.key_label));
    let module = MODULE.pick(None, env, module);
    let module_name = module.name();
    let module = module.read(PathBuf::from);
    let token = TOKEN.pick(None, env, token);
    let token_name = token.name();
    let token = token.read(str::to_owned);
    let pin_env = PIN_ENV.pick(None, env, pin_env);
    let pin_name = pin_env.name();
    let pin_env = pin_env.read(str::to_owned);
    let key_label = KEY_LABEL.pick(None, env, key_label);
    let key_name = key_label.name();
    let key_label = key_label.read(str::to_owned);
    let key_label_given = key_label.is_some();
    if module.is_none() && token.is_none() {
        if pin_env.is_some() || key_label_given {
            errors.push(
                "kek.pkcs11: set module and token_label (or KEYWARD_PKCS11_MODULE / KEYWARD_PKCS11_TOKEN)".into(),
            );
        }
        return (None, key_label_given);
    }
    let before = errors.len();
    let module = module.filter(|m| !m.as_os_str().is_empty());
    if module.is_none() {
        errors.push(format!("{module_name}: required with kek.pkcs11 (the PKCS#11 module's path)"));
    }
    let token = token.unwrap_or_default();
    if let Some(problem) = label_problem(&token, MAX_TOKEN_LABEL) {
        errors.push(format!("{token_name}: {problem}"));
    }
    let pin_env = pin_env.unwrap_or_else(|| DEFAULT_PIN_ENV.to_owned());
    let var_ok = !pin_env.is_empty()
        && pin_env.len() <= 128
        && pin_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !pin_env.starts_with(|c: char| c.is_ascii_digit());
    if !var_ok {
        errors.push(format!("{pin_name}: must name an environment variable (letters, digits, _)"));
    }
    if let Some(problem) = key_label.as_deref().and_then(|l| label_problem(l, MAX_KEY_LABEL)) {
        errors.push(format!("{key_name}: {problem}"));
    }
    let config = (errors.len() == before).then(|| Pkcs11Config {
        module: module.unwrap_or_default(),
        token_label: token,
        pin_env,
        key_label,
    });
    (config, key_label_given)
}

/// What is wrong with a token or key label, if anything: 1 to `max` printable ASCII characters.
pub fn label_problem(label: &str, max: usize) -> Option<String> {
    if label.is_empty() || label.len() > max {
        return Some(format!("must be 1 to {max} characters"));
    }
    if !label.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Some("must be printable ASCII".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(toml_kek: &str, vars: &[(&str, &str)]) -> (KekConfig, Vec<String>) {
        let file: Option<KekFile> = (!toml_kek.is_empty()).then(|| toml::from_str(toml_kek).unwrap());
        let env: Env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut errors = Vec::new();
        (resolve(file, &env, &mut errors), errors)
    }

    #[test]
    fn a_token_key_alone_is_a_kek() {
        let (c, e) = resolved(r#"pkcs11 = { module = "/m.so", token_label = "kw", key_label = "kek-1" }"#, &[]);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.ring, None);
        let p = c.pkcs11.unwrap();
        assert_eq!(
            (p.token_label.as_str(), p.pin_env.as_str(), p.key_label.as_deref()),
            ("kw", DEFAULT_PIN_ENV, Some("kek-1"))
        );
    }

    #[test]
    fn variables_override_and_migrations_keep_the_file() {
        let vars = [
            ("KEYWARD_PKCS11_MODULE", "/env.so"),
            ("KEYWARD_PKCS11_TOKEN", "tok"),
            ("KEYWARD_PKCS11_PIN_ENV", "MY_PIN"),
            ("KEYWARD_PKCS11_KEY_LABEL", "k2"),
        ];
        let (c, e) = resolved(r#"file = "/ring""#, &vars);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.ring, Some(KekSource::File("/ring".into())));
        let p = c.pkcs11.unwrap();
        assert_eq!(
            (p.module, p.token_label, p.pin_env, p.key_label),
            ("/env.so".into(), "tok".into(), "MY_PIN".into(), Some("k2".into()))
        );
    }

    #[test]
    fn problems_name_the_setting_and_the_layer() {
        let (_, e) = resolved("", &[]);
        assert!(e[0].contains("kek.pkcs11.key_label"), "{e:?}");
        let (_, e) = resolved(r#"pkcs11 = { token_label = "kw", key_label = "k" }"#, &[]);
        assert_eq!(e, ["kek.pkcs11.module: required with kek.pkcs11 (the PKCS#11 module's path)"]);
        let (_, e) = resolved(
            r#"pkcs11 = { module = "/m.so", token_label = "kw", key_label = "k" }"#,
            &[("KEYWARD_PKCS11_TOKEN", &"t".repeat(33))],
        );
        assert_eq!(e, ["KEYWARD_PKCS11_TOKEN (kek.pkcs11.token_label): must be 1 to 32 characters"]);
        let (_, e) =
            resolved(r#"pkcs11 = { module = "/m.so", token_label = "kw", pin_env = "1 PIN", key_label = "k\n" }"#, &[]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("kek.pkcs11.pin_env:") && e[1].starts_with("kek.pkcs11.key_label: must be printable"),
            "{e:?}"
        );
        let (_, e) = resolved(r#"pkcs11 = { key_label = "k" }"#, &[]);
        assert!(e[0].starts_with("kek.pkcs11: set module and token_label"), "{e:?}");
        let (c, e) = resolved(
            r#"file = "/ring"
pkcs11 = { module = "/m.so", token_label = "kw" }"#,
            &[],
        );
        assert!(e.is_empty() && c.pkcs11.unwrap().key_label.is_none(), "{e:?}");
    }
}
