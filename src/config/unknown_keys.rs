//! Parsing `keyward.toml` so that unknown keys are problems listed beside every other one, not
//! a parse error that hides the rest.

use serde::de::DeserializeOwned;
use serde_ignored::Path;

use super::toml_error;

/// Parses `text` into `T`, returning it with one `line N: unknown key section.key` problem per
/// key that `T` does not know (without the line when it is not plain which one); never a value. A syntax or type error is the one line of
/// [`toml_error::describe`].
pub(super) fn parse<T: DeserializeOwned>(text: &str) -> Result<(T, Vec<String>), String> {
    let mut unknown = Vec::new();
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error::describe(text, &e))?;
    let value = serde_ignored::deserialize(de, |path| unknown.push(dotted(&path)))
        .map_err(|e| toml_error::describe(text, &e))?;
    let problems = unknown.into_iter().map(|key| format!("{}unknown key {key}", line_of(text, &key))).collect();
    Ok((value, problems))
}

/// `section.key`, `principals[0].key`: the path as the config's other problems name settings.
fn dotted(path: &Path<'_>) -> String {
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => match dotted(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

/// `line N: ` when exactly one line assigns the key's last part (`name =`), else nothing.
fn line_of(text: &str, key: &str) -> String {
    let last = key.rsplit(['.', ']']).next().unwrap_or(key);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().strip_prefix(last).is_some_and(|rest| rest.trim_start().starts_with('=')));
    match (lines.next(), lines.next()) {
        (Some((n, _)), None) => format!("line {}: ", n + 1),
        _ => String::new(),
    }
}
