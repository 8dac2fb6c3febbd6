//! The pieces of table-mode output: compact durations, times with a relative hint, shortened
//! ids, and tables that fit 100 columns.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Style;
use crate::cli::CliError;
use crate::cli::out::outln;

/// The width tables keep to unless `--wide`.
pub(crate) const COLUMNS: usize = 100;

/// Ids, kids and fingerprints longer than this are shortened in tables unless `--wide`.
const SHORT: usize = 13;

/// What an empty table cell shows.
const NONE: &str = "-";

/// A duration in at most two adjacent units of days, hours, minutes and seconds: `90d`, `2h30m`,
/// `10m`, `45s`, `1d1h` (1d 1h 1m is `1d1h`); under a second, milliseconds (`500ms`); `0s`.
pub(crate) fn compact(d: Duration) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let secs = d.as_secs();
    if secs == 0 {
        let ms = d.subsec_millis();
        return if ms > 0 { format!("{ms}ms") } else { "0s".to_owned() };
    }
    let Some(i) = UNITS.iter().position(|(size, _)| secs >= *size) else { return "0s".to_owned() };
    let (size, unit) = UNITS[i];
    let mut text = format!("{}{unit}", secs / size);
    if let Some((next, next_unit)) = UNITS.get(i + 1) {
        let more = secs % size / next;
        if more > 0 {
            text.push_str(&format!("{more}{next_unit}"));
        }
    }
    text
}

/// A protobuf duration as [`compact`] text; empty when unset, `0s` when negative.
pub(crate) fn duration(d: Option<&prost_types::Duration>) -> String {
    let Some(d) = d else { return String::new() };
    let secs = u64::try_from(d.seconds).unwrap_or(0);
    let nanos = u32::try_from(d.nanos).unwrap_or(0);
    compact(Duration::new(secs, nanos))
}

/// RFC 3339 in UTC to the second (`2026-12-13T10:00:00Z`), or empty when unset.
pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return String::new() };
    OffsetDateTime::from_unix_timestamp(t.seconds).ok().and_then(|d| d.format(&Rfc3339).ok()).unwrap_or_default()
}

/// [`time`] with how far it is from now: `2026-12-13T10:00:00Z (in 6d)`, `… (3h ago)`.
pub(crate) fn when(t: Option<&prost_types::Timestamp>) -> String {
    when_at(t, OffsetDateTime::now_utc().unix_timestamp())
}

/// [`when`] as seen at `now` (Unix seconds).
pub(crate) fn when_at(t: Option<&prost_types::Timestamp>, now: i64) -> String {
    let text = time(t);
    match t {
        Some(t) if !text.is_empty() => format!("{text} ({})", relative(t.seconds - now)),
        _ => text,
    }
}

/// `in 6d`, `3h ago` or `now`, in the largest whole unit.
pub(crate) fn relative(delta: i64) -> String {
    if delta == 0 {
        return "now".to_owned();
    }
    let d = compact(Duration::from_secs(delta.unsigned_abs()));
    // One unit: the hint is a glance, the time before it is exact.
    let one = d.find(|c: char| c.is_ascii_alphabetic()).map_or(d.as_str(), |i| &d[..=i]).to_owned();
    if delta > 0 { format!("in {one}") } else { format!("{one} ago") }
}

/// The time since `t` as a compact age (`3h`), or empty when unset.
pub(crate) fn age(t: Option<&prost_types::Timestamp>) -> String {
    age_at(t, OffsetDateTime::now_utc().unix_timestamp())
}

/// [`age`] as seen at `now` (Unix seconds).
pub(crate) fn age_at(t: Option<&prost_types::Timestamp>, now: i64) -> String {
    let Some(t) = t else { return String::new() };
    let d = compact(Duration::from_secs(u64::try_from(now - t.seconds).unwrap_or(0)));
    d.find(|c: char| c.is_ascii_alphabetic()).map_or(d.as_str(), |i| &d[..=i]).to_owned()
}

/// A long id, kid or fingerprint as its first 12 characters and `…`, unless `--wide`.
pub(crate) fn short(s: &str, style: Style) -> String {
    if style.wide { s.to_owned() } else { cut(s, SHORT) }
}

/// `s` in at most `max` characters, ending in `…` when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut kept: String = s.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// `yes` or `no`.
pub(crate) fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// Columns padded to the widest cell, under a header; `-` for an empty cell. Unless `--wide`,
/// the last column is cut so that every line fits [`COLUMNS`].
pub(crate) fn table(header: &[&str], rows: &[Vec<String>], style: Style) -> Result<(), CliError> {
    for line in table_lines(header, rows, style) {
        outln!("{line}")?;
    }
    Ok(())
}

/// The lines [`table`] prints.
pub(crate) fn table_lines(header: &[&str], rows: &[Vec<String>], style: Style) -> Vec<String> {
    let cell = |r: &[String], i: usize| -> String {
        match r.get(i).map(String::as_str) {
            None | Some("") => NONE.to_owned(),
            Some(c) => c.to_owned(),
        }
    };
    let n = header.len();
    let mut widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| cell(r, i).chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let before_last: usize = widths.iter().take(n.saturating_sub(1)).map(|w| w + 2).sum();
    if let Some(last) = widths.last_mut()
        && !style.wide
    {
        *last = (*last).min(COLUMNS.saturating_sub(before_last).max(header[n - 1].len()));
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{:<w$}", cut(c, *w), w = *w)).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|r| line((0..n).map(|i| cell(r, i)).collect())));
    out
}

/// `label  value` lines, labels aligned after `indent` spaces, long values wrapped at word
/// boundaries to fit [`COLUMNS`]; pairs with an empty value are left out.
pub(crate) fn fields_at(indent: usize, pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k.len()).max().unwrap_or(0);
    let room = COLUMNS.saturating_sub(indent + width + 2);
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        for (i, part) in wrap(v, room).iter().enumerate() {
            let k = if i == 0 { *k } else { "" };
            outln!("{:indent$}{k:<width$}  {part}", "")?;
        }
    }
    Ok(())
}

/// [`fields_at`] with no indent.
pub(crate) fn fields(pairs: &[(&str, String)]) -> Result<(), CliError> {
    fields_at(0, pairs)
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        } else if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// What a command did, in words, wrapped to fit [`COLUMNS`].
pub(crate) fn say(text: &str) -> Result<(), CliError> {
    for line in wrap(text, COLUMNS) {
        outln!("{line}")?;
    }
    Ok(())
}

/// An empty result: what is missing and, on its own line, the command to run next.
pub(crate) fn empty(said: &str, next: &str) -> Result<(), CliError> {
    outln!("{said}:")?;
    outln!("  {next}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NARROW: Style = Style { json: false, wide: false };
    const WIDE: Style = Style { json: false, wide: true };

    fn ts(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn durations_are_compact() {
        let d = |s| compact(Duration::from_secs(s));
        assert_eq!(d(90 * 86_400), "90d");
        assert_eq!(d(2 * 3_600 + 30 * 60), "2h30m");
        assert_eq!(d(600), "10m");
        assert_eq!(d(45), "45s");
        assert_eq!(d(0), "0s");
        assert_eq!(d(86_400 + 3_600 + 61), "1d1h", "at most two units");
        assert_eq!(d(86_400 + 60), "1d", "adjacent units only");
        assert_eq!(d(3_601), "1h");
        assert_eq!(d(61), "1m1s");
        assert_eq!(compact(Duration::from_millis(500)), "500ms");
        assert_eq!(duration(Some(&prost_types::Duration { seconds: 7_776_000, nanos: 0 })), "90d");
        assert_eq!(duration(Some(&prost_types::Duration { seconds: -5, nanos: 0 })), "0s");
        assert_eq!(duration(None), "");
    }

    #[test]
    fn times_are_rfc3339_utc_with_a_relative_hint() {
        let at = 1_797_156_000; // 2026-12-13T10:00:00Z
        assert_eq!(time(Some(&prost_types::Timestamp { seconds: at, nanos: 999 })), "2026-12-13T10:00:00Z");
        assert_eq!(when_at(Some(&ts(at)), at - 6 * 86_400 - 5), "2026-12-13T10:00:00Z (in 6d)");
        assert_eq!(when_at(Some(&ts(at)), at + 3 * 3_600 + 1_800), "2026-12-13T10:00:00Z (3h ago)");
        assert_eq!(when_at(Some(&ts(at)), at), "2026-12-13T10:00:00Z (now)");
        assert_eq!(when_at(None, at), "");
        assert_eq!(age_at(Some(&ts(at)), at + 2 * 86_400 + 7_200), "2d");
        assert_eq!(age_at(None, at), "");
    }

    #[test]
    fn long_ids_are_shortened_unless_wide() {
        let kid = "jSPNwmR9IaRVOou5HtWmtb5LJ4TWoLP_XIhSV8m73GY";
        assert_eq!(short(kid, NARROW), "jSPNwmR9IaRV…");
        assert_eq!(short(kid, WIDE), kid);
        assert_eq!(short("cred_12345678", NARROW), "cred_12345678", "short enough already");
        assert_eq!(cut("abcdef", 4), "abc…");
    }

    #[test]
    fn tables_have_a_header_dashes_for_empty_cells_and_fit_100_columns() {
        let rows = vec![vec!["a".to_owned(), String::new(), "x".repeat(200)]];
        let lines = table_lines(&["ONE", "TWO", "THREE"], &rows, NARROW);
        assert_eq!(lines[0], "ONE  TWO  THREE");
        assert!(lines[1].starts_with("a    -    xxx"), "{}", lines[1]);
        assert!(lines.iter().all(|l| l.chars().count() <= COLUMNS), "{lines:?}");
        assert!(lines[1].ends_with('…'));
        let wide = table_lines(&["ONE", "TWO", "THREE"], &rows, WIDE);
        assert!(wide[1].ends_with(&"x".repeat(200)));
    }

    #[test]
    fn long_values_wrap_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("a-very-long-word x", 4), ["a-very-long-word", "x"]);
        assert_eq!(wrap("", 4), [""]);
    }
}
