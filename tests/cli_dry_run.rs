//! `--dry-run` on the rotate and revoke commands against a real `keyward dev`: a table of the
//! planned steps (every line within 100 columns), the refusal the real call would give printed
//! first with exit code 0, `--json` as `{plan: {steps, would_refuse, refusal, notes}}`, and nothing
//! changed: the credentials keyward manages and Auth0 holds, and the rotations, are as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cli.rs"]
mod cli;
mod support;

use cli::Cli;
use serde_json::Value;
use support::*;

const CONN: &str = "con_demooidc0000001";

/// What a dry run must leave alone: the client's credentials (keyward's and Auth0's), the
/// rotations, the connection's keys.
fn world(c: &Cli) -> (Value, Value, Value) {
    (
        c.json(&["credentials", "list", "--tenant", "dev", "--client", APP]),
        c.json(&["rotation", "list", "--tenant", "dev"]),
        c.json(&["connection", "keys", "--tenant", "dev", "--connection", CONN]),
    )
}

#[test]
fn dry_runs_print_the_plan_and_change_nothing() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let k = start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
    let c = Cli::for_dev(&k, &dir);
    let rotate = ["rotate", "client", "--tenant", "dev", "--client", APP];
    c.text(&rotate);
    c.text(&rotate);
    let creds = c.json(&["credentials", "list", "--tenant", "dev", "--client", APP]);
    let active = creds["credentials"].as_array().unwrap().iter().find(|k| k["state"] == "ACTIVE").unwrap();
    let active = active["credential_id"].as_str().unwrap().to_owned();
    let before = world(&c);

    // rotate client: the table, in the saga's order, with the retirement scheduled.
    let dry = [&rotate[..], &["--dry-run"]].concat();
    let text = c.text(&dry);
    assert!(text.starts_with("dry run: rotating client demo-app in tenant dev would take 7 steps"), "{text}");
    let header = text.lines().nth(1).unwrap();
    for col in ["STEP", "ACTION", "TARGET", "METHOD", "WHEN"] {
        assert!(header.contains(col), "{header}");
    }
    // Each step's reason follows its row, indented; with --wide it is a column.
    assert!(text.lines().nth(3).unwrap().starts_with("      RS256 2048-bit key pair"), "{text}");
    let wide = String::from_utf8(c.run(&[&dry[..], &["--wide"]].concat()).stdout).unwrap();
    assert!(wide.lines().nth(1).unwrap().ends_with("REASON"), "{wide}");
    let actions: Vec<&str> =
        text.lines().skip(2).filter_map(|l| l.split_whitespace().nth(1)).filter(|a| a.len() > 2).collect();
    for a in ["generate", "detach", "delete", "create", "attach", "activate", "retire"] {
        assert!(actions.contains(&a), "{a} missing: {text}");
    }
    assert!(text.contains("(in 10m)") || text.contains("(in 9m"), "the retirement after the grace period: {text}");
    let json = c.json(&dry);
    let plan = &json["plan"];
    assert_eq!(plan["would_refuse"], false, "{json}");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{json}");
    assert_eq!(
        (&steps[0]["step"], &steps[0]["action"], &steps[0]["at"]),
        (&Value::from(1), &Value::from("generate"), &Value::Null)
    );
    assert_eq!(steps[6]["action"], "retire", "{json}");
    assert_eq!(steps[6]["target"], active.as_str(), "{json}");
    assert!(steps[6]["at"].is_string(), "{json}");

    // revoke: the client's only active key is refused, prominently, with exit code 0.
    let revoke =
        ["revoke", "--tenant", "dev", "--client", APP, "--credential", &active, "--reason", "test", "--dry-run"];
    let text = c.text(&revoke);
    assert!(
        text.starts_with(&format!("dry run: revoking credential {active} of client demo-app would be REFUSED")),
        "{text}"
    );
    assert!(text.contains("force"), "{text}");
    let json = c.json(&revoke);
    assert_eq!(json["plan"]["would_refuse"], true, "{json}");
    assert!(json["plan"]["refusal"].as_str().unwrap().contains("force"), "{json}");
    let forced = c.json(&[&revoke[..], &["--force"]].concat());
    let actions: Vec<&str> =
        forced["plan"]["steps"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["stop_signing", "detach", "delete", "destroy"], "{forced}");

    // rotate connection and signing keys, and revoke signing-key.
    let conn = c.json(&["rotate", "connection", "--tenant", "dev", "--connection", CONN, "--dry-run"]);
    assert!(conn["plan"]["steps"].as_array().unwrap().iter().any(|s| s["action"] == "activate"), "{conn}");
    let text = c.text(&["rotate", "signing-keys", "--tenant", "dev", "--dry-run"]);
    assert!(text.starts_with("dry run: rotating tenant dev's signing keys would take"), "{text}");
    assert!(text.contains("note: Auth0 allows 5 signing-key rotations a day"), "{text}");
    let keys = c.json(&["rotate", "signing-keys", "--tenant", "dev", "--dry-run"]);
    let current =
        keys["plan"]["steps"].as_array().unwrap().iter().find(|s| s["action"] == "retire").unwrap()["target"].clone();
    let text = c.text(&["revoke", "signing-key", "--tenant", "dev", "--kid", current.as_str().unwrap(), "--dry-run"]);
    assert!(text.contains("would be REFUSED") && text.contains("is the current key"), "{text}");

    assert_eq!(world(&c), before, "a dry run changed something");
    // The real rotation still works afterwards and did not see the plans.
    assert!(c.text(&rotate).starts_with("rotated the credential of client demo-app"));
}
