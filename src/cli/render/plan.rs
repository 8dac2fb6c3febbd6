//! Dry runs (`--dry-run` on rotate and revoke): the plan as a table of steps, the refusal the
//! real call would give first and in capitals, then the notes; or `{plan: {...}}` as JSON.

use serde_json::json;

use super::human::{COLUMNS, say, short, table_lines, when, wrap};
use super::{CliError, Style, print_json, stamp, text};
use crate::cli::out::outln;
use crate::grpc::proto::Plan;

/// The table's header.
const HEADER: [&str; 6] = ["STEP", "ACTION", "TARGET", "METHOD", "WHEN", "REASON"];

/// The narrowest the reason column is wrapped to, however wide the other columns are.
const MIN_REASON: usize = 30;

/// The rows of the table: one per step, its reason wrapped onto rows of its own (other cells
/// blank) to fit [`COLUMNS`] unless `--wide`.
fn rows(p: &Plan, style: Style) -> Vec<Vec<String>> {
    let cells: Vec<Vec<String>> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = if s.at.is_some() { when(s.at.as_ref()) } else { "now".to_owned() };
            vec![(i + 1).to_string(), s.action.clone(), short(&s.target, style), s.method.clone(), at]
        })
        .collect();
    let width =
        |i: usize| cells.iter().map(|r| r[i].chars().count().max(1)).chain([HEADER[i].len()]).max().unwrap_or(0);
    let before: usize = (0..5).map(|i| width(i) + 2).sum();
    let room = COLUMNS.saturating_sub(before).max(MIN_REASON);
    let mut out = Vec::new();
    for (row, s) in cells.into_iter().zip(&p.steps) {
        let lines = if style.wide { vec![s.reason.clone()] } else { wrap(&s.reason, room) };
        for (i, line) in lines.into_iter().enumerate() {
            let mut r = if i == 0 { row.clone() } else { vec![" ".to_owned(); 5] };
            r.push(line);
            out.push(r);
        }
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
        // Reasons are wrapped here already; the table must not cut them again.
        let wide = Style { wide: true, ..style };
        for line in table_lines(&HEADER, &rows(&p, style), wide) {
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
    fn long_reasons_wrap_under_their_own_column() {
        let step = PlannedStep {
            action: "retire".into(),
            target: "cred_abc".into(),
            method: "private_key_jwt".into(),
            at: None,
            reason: "word ".repeat(40),
        };
        let p = Plan { steps: vec![step], ..Plan::default() };
        let r = rows(&p, Style { json: false, wide: false });
        assert!(r.len() > 1, "{r:?}");
        assert_eq!(r[0][..5], ["1", "retire", "cred_abc", "private_key_jwt", "now"]);
        assert!(r[1][..5].iter().all(|c| c == " "));
        let lines = table_lines(&HEADER, &r, Style { json: false, wide: true });
        assert!(lines.iter().all(|l| l.chars().count() <= COLUMNS), "{lines:#?}");
    }
}
