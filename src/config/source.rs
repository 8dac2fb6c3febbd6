//! Where a setting's value comes from, decided here for every section: a `keyward serve` flag over
//! its environment variable over the file over the default; and the name a bad value is reported
//! under.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// The environment, as [`Config::resolve`](super::Config::resolve) is given it.
pub(super) type Env = HashMap<String, String>;

/// A key of the file that an environment variable, and perhaps a flag, may override.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    /// Its place in the file: `section.key`, or `key` at the top level.
    path: &'static str,
    /// The `keyward serve` flag that overrides the variable and the file, if there is one.
    flag: Option<&'static str>,
    /// The environment variable that overrides the file, if there is one.
    var: Option<&'static str>,
    /// Whether a problem names the layer a value came from (`--flag (path)`, `VAR (path)`) or
    /// the key alone, as the settings older than `[limits]` always have.
    names_layer: bool,
}

impl Setting {
    /// A key only the file sets.
    pub(super) const fn file(path: &'static str) -> Self {
        Self { path, flag: None, var: None, names_layer: false }
    }

    /// A key that the environment variable `var` overrides.
    pub(super) const fn env(path: &'static str, var: &'static str) -> Self {
        Self { path, flag: None, var: Some(var), names_layer: false }
    }

    /// A key that `var` overrides and the flag `flag` overrides both.
    pub(super) const fn flag(path: &'static str, flag: &'static str, var: &'static str) -> Self {
        Self { path, flag: Some(flag), var: Some(var), names_layer: false }
    }

    /// The same setting, its problems reported under the layer the value came from.
    pub(super) const fn naming_the_layer(self) -> Self {
        Self { names_layer: true, ..self }
    }

    /// The value that wins: the flag's text (`flag`, as the command line gave it), else the
    /// variable's, else the file's `file`. Nothing at all leaves the setting's default.
    pub(super) fn pick<'a, T>(self, flag: Option<&'a str>, env: &'a Env, file: Option<T>) -> Value<'a, T> {
        debug_assert!(flag.is_none() || self.flag.is_some(), "{} has no flag", self.path);
        let given = match (flag, self.var.and_then(|var| env.get(var))) {
            (Some(text), _) => Some(Given::Flag(text)),
            (None, Some(text)) => Some(Given::Env(text)),
            (None, None) => file.map(Given::File),
        };
        Value { setting: self, given }
    }

    /// The file's value of a key only the file sets.
    pub(super) fn given<'a, T>(self, file: Option<T>) -> Value<'a, T> {
        debug_assert!(self.flag.is_none() && self.var.is_none(), "{} has overrides", self.path);
        Value { setting: self, given: file.map(Given::File) }
    }
}

/// The layer a value came from: text from the command line or the environment, or the file's own
/// (typed) value.
#[derive(Debug)]
enum Given<'a, T> {
    Flag(&'a str),
    Env(&'a str),
    File(T),
}

/// A setting's winning value, if any layer gave one, with where it came from.
#[derive(Debug)]
pub(super) struct Value<'a, T> {
    setting: Setting,
    given: Option<Given<'a, T>>,
}

impl<'a, T> Value<'a, T> {
    /// The name a problem with the value is reported under: `--flag (section.key)`,
    /// `KEYWARD_X (section.key)` or `section.key`.
    pub(super) fn name(&self) -> String {
        let Setting { path, flag, var, names_layer } = self.setting;
        let layer = match self.given {
            Some(Given::Flag(_)) => flag,
            Some(Given::Env(_)) => var,
            Some(Given::File(_)) | None => None,
        };
        match layer.filter(|_| names_layer) {
            Some(layer) => format!("{layer} ({path})"),
            None => path.to_owned(),
        }
    }

    /// The value, the text of a flag or variable read with `from_text`; `None` when no layer
    /// gave one.
    pub(super) fn read(self, from_text: impl FnOnce(&'a str) -> T) -> Option<T> {
        self.given.map(|given| match given {
            Given::Flag(text) | Given::Env(text) => from_text(text),
            Given::File(value) => value,
        })
    }

    /// A number within `range` (inclusive), else `default`; a flag's or variable's text that is
    /// not one is reported as such.
    pub(super) fn number(self, default: T, range: (T, T), errors: &mut Vec<String>) -> T
    where
        T: FromStr + PartialOrd + Copy + Display,
    {
        let name = self.name();
        let value = match self.given {
            None => default,
            Some(Given::File(value)) => value,
            Some(Given::Flag(text) | Given::Env(text)) => match text.trim().parse::<T>() {
                Ok(value) => value,
                Err(_) => {
                    errors.push(format!("{name}: not a number"));
                    return default;
                }
            },
        };
        if value < range.0 || value > range.1 {
            errors.push(format!("{name}: {value} is not between {} and {}", range.0, range.1));
            return default;
        }
        value
    }
}

impl<'a> Value<'a, &'a str> {
    /// The text, from whichever layer gave it.
    pub(super) fn text(&self) -> Option<&'a str> {
        self.given.as_ref().map(|given| match *given {
            Given::Flag(text) | Given::Env(text) | Given::File(text) => text,
        })
    }

    /// A duration (`30s`, `1h 30m`), else `default`: problems read `name: "text": why`.
    pub(super) fn duration(&self, default: Duration, errors: &mut Vec<String>) -> Duration {
        let Some(text) = self.text() else { return default };
        humantime::parse_duration(text).unwrap_or_else(|e| {
            errors.push(format!("{}: {text:?}: {e}", self.name()));
            default
        })
    }

    /// A duration within `range` (inclusive), else `default`; surrounding blanks are ignored and
    /// problems never echo the text.
    pub(super) fn duration_within(
        &self,
        default: Duration,
        range: (Duration, Duration),
        errors: &mut Vec<String>,
    ) -> Duration {
        let Some(text) = self.text() else { return default };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d >= range.0 && d <= range.1 => d,
            Ok(_) => {
                errors.push(format!("{}: must be between {:?} and {:?}", self.name(), range.0, range.1));
                default
            }
            Err(e) => {
                errors.push(format!("{}: {e}", self.name()));
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERED: Setting =
        Setting::flag("limits.max_things", "--max-things", "KEYWARD_MAX_THINGS").naming_the_layer();
    const PLAIN: Setting = Setting::flag("listen", "--listen", "KEYWARD_LISTEN");

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn flag_then_environment_then_file_then_default() {
        let both = env(&[("KEYWARD_MAX_THINGS", "2"), ("KEYWARD_LISTEN", "env")]);
        let none = env(&[]);
        let mut errors = Vec::new();
        assert_eq!(LAYERED.pick(Some("1"), &both, Some(3)).number(9, (0, 10), &mut errors), 1);
        assert_eq!(LAYERED.pick(None, &both, Some(3)).number(9, (0, 10), &mut errors), 2);
        assert_eq!(LAYERED.pick(None, &none, Some(3)).number(9, (0, 10), &mut errors), 3);
        assert_eq!(LAYERED.pick(None, &none, None).number(9, (0, 10), &mut errors), 9);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(PLAIN.pick(Some("flag"), &both, Some("file")).text(), Some("flag"));
        assert_eq!(PLAIN.pick(None, &both, Some("file")).text(), Some("env"));
        assert_eq!(PLAIN.pick(None, &none, Some("file")).text(), Some("file"));
        assert_eq!(PLAIN.pick::<&str>(None, &none, None).text(), None);
        assert_eq!(Setting::file("drain_timeout").given(Some("file")).text(), Some("file"));
    }

    #[test]
    fn problems_name_the_layer_or_the_key() {
        let e = env(&[("KEYWARD_MAX_THINGS", "lots"), ("KEYWARD_LISTEN", "x")]);
        let mut errors = Vec::new();
        LAYERED.pick(Some("11"), &e, None).number(0, (0, 10), &mut errors);
        LAYERED.pick(None, &e, None).number(0, (0, 10), &mut errors);
        LAYERED.pick(None, &env(&[]), Some(12)).number(0, (0, 10), &mut errors);
        assert_eq!(
            errors,
            [
                "--max-things (limits.max_things): 11 is not between 0 and 10",
                "KEYWARD_MAX_THINGS (limits.max_things): not a number",
                "limits.max_things: 12 is not between 0 and 10",
            ]
        );
        assert_eq!(PLAIN.pick(Some("a"), &e, None::<&str>).name(), "listen");
        assert_eq!(PLAIN.pick(None, &e, None::<&str>).name(), "listen");
    }
}
