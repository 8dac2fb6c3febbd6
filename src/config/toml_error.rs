//! A `keyward.toml` parse error as one line that names where and which key, never the value.

/// A parse error as one line naming the line, column and key, never the value: the offending
/// line may hold a secret (`management_client_secret = "…"` beside a mistyped key), and serde's
/// "invalid type" messages quote the value found.
pub(super) fn describe(text: &str, e: &toml::de::Error) -> String {
    let mut message = one_line(e.message());
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let kind = message.split(':').next().unwrap_or("invalid value").to_owned();
        message = match message.split_once(", expected") {
            Some((_, expected)) => format!("{kind}, expected{expected}"),
            None => kind,
        };
    }
    let Some(start) = e.span().map(|s| s.start).filter(|s| *s <= text.len()) else { return message };
    let before = text.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let source = text.lines().nth(line - 1).unwrap_or_default();
    let key = source
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && k.len() <= 128 && !k.contains(['"', '\'']))
        .map(|k| format!(" (key {k})"))
        .unwrap_or_default();
    format!("line {line}, column {column}{key}: {message}")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
