//! Dry runs (`--dry-run` on rotate and revoke): the plan as a table of steps, the refusal the
//! real call would give first and in capitals, then the notes; or `{plan: {...}}` as JSON.

use serde_json::json;

use super::human::{COLUMNS, say, short, table_lines, when, wrap};
use super::{CliError, Style, print_json, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::Plan;

/// The table's header; REASON is a column of its own only with `--wide`.
const HEADER: [&str; 6] = ["STEP", "ACTION", "TARGET", "METHOD", "WHEN", "REASON"];

/// How far a step's reason is indented on the lines under its row (under ACTION).
const INDENT: usize = 6;

/// The lines of the table: one row per step; each reason follows its row, indented and wrapped
/// to fit [`COLUMNS`], or (with `--wide`) stands in a last column.
fn lines(p: &Plan, style: Style) -> Vec<String> {
    let rows: Vec<Vec<String>> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = if s.at.is_some() { when(s.at.as_ref()) } else { "now".to_owned() };
            let mut row = vec![(i + 1).to_string(), s.action.clone(), short(&s.target, style), s.method.clone(), at];
            if style.wide {
                row.push(s.reason.clone());
            }
            row
        })
        .collect();
    let header = if style.wide { &HEADER[..] } else { &HEADER[..5] };
    let table = table_lines(header, &rows, style);
    if style.wide {
        return table;
    }
    let mut out = vec![table[0].clone()];
    for (row, s) in table.into_iter().skip(1).zip(&p.steps) {
        out.push(row);
        out.extend(wrap(&s.reason, COLUMNS - INDENT).into_iter().map(|l| format!("{:INDENT$}{l}", "")));
    }
    out
}

/// A dry run's plan for `what` ("rotating client demo-app in tenant dev").
pub(in crate::cli) fn plan(p: Option<&Plan>, what: &str, style: Style) -> Result<(), CliError> {
    let p = p.cloned().unwrap_or_default();
    if style.json {
        let steps: Vec<_> = p
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "step": i + 1, "action": s.action, "target": s.target, "method": text(&s.method),
                    "at": stamp(s.at.as_ref()), "reason": s.reason,
                })
            })
            .collect();
        return print_json(&json!({
            "plan": {"steps": steps, "would_refuse": p.would_refuse, "refusal": text(&p.refusal), "notes": p.notes},
        }));
    }
    if p.would_refuse {
        say(&format!("dry run: {what} would be REFUSED: {}", p.refusal))?;
    } else if p.steps.is_empty() {
        say(&format!("dry run: {what} would change nothing"))?;
    } else {
        say(&format!("dry run: {what} would take {} steps; nothing was changed", p.steps.len()))?;
    }
    if !p.steps.is_empty() {
        for line in lines(&p, style) {
            outln!("{line}")?;
        }
    }
    for note in &p.notes {
        say(&format!("note: {note}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::PlannedStep;

    #[test]
    fn long_reasons_wrap_under_their_row() {
        let step = PlannedStep {
            action: "retire".into(),
            target: "cred_abc".into(),
            method: "private_key_jwt".into(),
            at: None,
            reason: "word ".repeat(40),
        };
        let p = Plan { steps: vec![step], ..Plan::default() };
        let l = lines(&p, Style { json: false, wide: false });
        assert!(l[0].starts_with("STEP") && !l[0].contains("REASON"), "{l:#?}");
        assert!(l[1].starts_with("1") && l[1].contains("private_key_jwt") && l[1].ends_with("now"), "{l:#?}");
        assert!(l.len() > 3 && l[2..].iter().all(|x| x.starts_with("      word")), "{l:#?}");
        assert!(l.iter().all(|x| x.chars().count() <= COLUMNS), "{l:#?}");
        let wide = lines(&p, Style { json: false, wide: true });
        assert_eq!(wide.len(), 2, "{wide:#?}");
        assert!(wide[0].ends_with("REASON"), "{wide:#?}");
    }
}
