//! `keyward audit tail`: events as they stream, a table with one header (or JSON Lines).

use std::time::Duration;

use serde_json::{Value, json};

use super::human::{COLUMNS, compact, cut, empty, short, time, wrap};
use super::{CliError, Style, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::AuditEvent;

/// The fixed columns before DETAIL, with their widths: events stream, so widths cannot wait for
/// the widest cell.
const COLUMNS_BEFORE_DETAIL: [(&str, usize); 5] =
    [("ID", 4), ("TIME", 20), ("ACTOR", 10), ("TARGET", 16), ("KIND", 22)];

/// Prints audit events one at a time: the table header before the first, and a word when there
/// were none.
#[derive(Debug)]
pub(in crate::cli) struct AuditTail {
    style: Style,
    printed: u64,
}

impl AuditTail {
    pub(in crate::cli) fn new(style: Style) -> Self {
        AuditTail { style, printed: 0 }
    }

    /// One event: a JSON line, or a table row (after the header, the first time).
    pub(in crate::cli) fn event(&mut self, e: &AuditEvent) -> Result<(), CliError> {
        if self.style.json {
            self.printed += 1;
            return outln!("{}", event_json(e));
        }
        if self.printed == 0 {
            let header: Vec<String> = COLUMNS_BEFORE_DETAIL.iter().map(|(h, _)| (*h).to_owned()).collect();
            for line in row(&header, "DETAIL", self.style) {
                outln!("{line}")?;
            }
        }
        self.printed += 1;
        let target = if e.subject.is_empty() { e.tenant.clone() } else { format!("{}/{}", e.tenant, e.subject) };
        let cells = [e.id.to_string(), time(e.at.as_ref()), e.actor.clone(), target, e.kind.clone()];
        for line in row(&cells, &detail(&e.detail, self.style), self.style) {
            outln!("{line}")?;
        }
        Ok(())
    }

    /// After the last event when not following: says so if there were none.
    pub(in crate::cli) fn end(&self) -> Result<(), CliError> {
        if self.printed == 0 && !self.style.json {
            return empty("no audit events to show; wait for new ones with", "keyward audit tail --follow");
        }
        Ok(())
    }
}

fn event_json(e: &AuditEvent) -> Value {
    let detail: Value = if e.detail.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&e.detail).unwrap_or_else(|_| Value::String(e.detail.clone()))
    };
    json!({"id": e.id, "at": stamp(e.at.as_ref()), "actor": text(&e.actor), "tenant": text(&e.tenant),
        "subject": text(&e.subject), "kind": e.kind, "detail": detail})
}

/// Lines of detail a row may take before the rest is cut (unless `--wide`).
const DETAIL_LINES: usize = 3;

/// The fixed cells padded (and cut unless `--wide`), then `detail` in what is left of 100
/// columns, wrapped at its words onto up to [`DETAIL_LINES`] lines under the DETAIL column.
fn row(cells: &[String], detail: &str, style: Style) -> Vec<String> {
    let mut line = String::new();
    for (c, (_, w)) in cells.iter().zip(COLUMNS_BEFORE_DETAIL) {
        let c = if c.is_empty() {
            "-".to_owned()
        } else if style.wide {
            c.clone()
        } else {
            cut(c, w)
        };
        line.push_str(&format!("{c:<w$}  "));
    }
    if style.wide {
        return vec![format!("{line}{detail}").trim_end().to_owned()];
    }
    let indent = line.chars().count();
    let room = COLUMNS.saturating_sub(indent).max(8);
    let mut parts = wrap(detail, room);
    if parts.len() > DETAIL_LINES {
        let rest = parts.split_off(DETAIL_LINES - 1).join(" ");
        parts.push(rest);
    }
    let mut lines = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let lead = if i == 0 { line.clone() } else { " ".repeat(indent) };
        lines.push(format!("{lead}{}", cut(part, room)).trim_end().to_owned());
    }
    lines
}

/// An event's JSON detail as `key=value` words (an id's value alone, `…_ms` numbers as compact
/// durations; nested objects flattened, empty values left out, long strings shortened unless
/// `--wide`); anything else as it is.
fn detail(raw: &str, style: Style) -> String {
    fn words(v: &Value, style: Style, out: &mut Vec<String>) {
        if let Value::Object(map) = v {
            for (k, v) in map {
                match v {
                    Value::Object(_) => words(v, style, out),
                    Value::Null => {}
                    Value::String(s) if s.is_empty() => {}
                    // Ids name their kind by prefix (rot_…, cred_…): the value alone says it.
                    Value::String(s) if k.ends_with("_id") => out.push(short(s, style)),
                    Value::String(s) => out.push(format!("{k}={}", short(s, style))),
                    Value::Array(a) if a.is_empty() => {}
                    Value::Number(n) if k.ends_with("_ms") && n.as_u64().is_some() => {
                        let ms = n.as_u64().unwrap_or(0);
                        out.push(format!("{}={}", k.trim_end_matches("_ms"), compact(Duration::from_millis(ms))));
                    }
                    other => out.push(format!("{k}={other}")),
                }
            }
        }
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => {
            let mut out = Vec::new();
            words(&v, style, &mut out);
            out.join(" ")
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_flattened_words_and_rows_fit() {
        let narrow = Style { json: false, wide: false };
        let raw = r#"{"rotation_id":"rot_5175b771ef274940bcb0d471a0a34807","detail":{"slots":2,"x":""}}"#;
        assert_eq!(detail(raw, narrow), "rot_5175b771… slots=2");
        assert_eq!(detail("plain words", narrow), "plain words");
        let cells = [
            "12".to_owned(),
            "2026-12-07T11:39:32Z".into(),
            "keyward replica dev".into(),
            "dev/demo-app".into(),
            "rotation.key_generated".into(),
        ];
        let lines = row(&cells, &"dd ".repeat(100), narrow);
        assert_eq!(lines.len(), DETAIL_LINES, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= COLUMNS), "{lines:?}");
        assert!(
            lines[0]
                .starts_with("12    2026-12-07T11:39:32Z  keyward r…  dev/demo-app      rotation.key_generated  dd")
        );
        assert!(lines[1].starts_with(&" ".repeat(80)) && lines[2].ends_with('…'), "{lines:?}");
        let policy = r#"{"kind":"client","max_age_ms":7776000000,"window":"02:00-05:00"}"#;
        assert_eq!(detail(policy, narrow), "kind=client max_age=90d window=02:00-05:00");
    }
}
