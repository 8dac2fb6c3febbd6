//! What the client commands print against a real `keyward dev`: table mode said once per command
//! kind as a golden text (ids, kids, fingerprints and times replaced by placeholders), every line
//! within 100 columns, an empty result naming the next command, `--wide` printing ids whole,
//! `--json` with `null` for what is absent, and the server's INVALID_ARGUMENT in flag terms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cli.rs"]
mod cli;
mod support;

use cli::Cli;
use serde_json::Value;
use support::*;

/// Table mode, normalised (see [`normalise`]).
fn normalised(c: &Cli, args: &[&str]) -> String {
    normalise(&c.text(args))
}

/// What varies from run to run replaced by placeholders — `<ROT>`, `<CRED>`, `<REV>`, `<KID>`,
/// `<FP>`, `<KEYNAME>`, `<TIME>`, relative hints `(in <D>)` / `(<AGO>)`, ages in seconds `<s>` —
/// and the padding between columns (two spaces or more) shown as ` | `.
fn normalise(text: &str) -> String {
    text.lines().map(normalise_line).collect::<Vec<_>>().join("\n")
}

fn normalise_line(line: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':');
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_word(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_word(chars[i]) {
            i += 1;
        }
        let shortened = chars.get(i) == Some(&'…');
        // A colon ending a word is punctuation (`cred_…: revoked`), except in a cut fingerprint.
        let mut end = i;
        while !shortened && end > start + 1 && chars[end - 1] == ':' {
            end -= 1;
        }
        let word: String = chars[start..end].iter().collect();
        out.push_str(&placeholder(&word, shortened).unwrap_or(word));
        out.extend(&chars[end..i]);
    }
    let out = relative_hints(&out);
    let indent = out.len() - out.trim_start().len();
    let cells: Vec<&str> = out.trim().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    format!("{}{}", " ".repeat(indent), cells.join(" | "))
}

fn placeholder(word: &str, shortened: bool) -> Option<String> {
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let b64 = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let p = if word.starts_with("rot_") {
        "<ROT>"
    } else if word.starts_with("cred_") {
        "<CRED>"
    } else if word.starts_with("rev_") {
        "<REV>"
    } else if let Some(rest) = word.strip_prefix("key_")
        && hex(rest)
        && (rest.len() == 32 || shortened)
    {
        "<KEYNAME>"
    } else if word.len() == 20 && &word[4..5] == "-" && &word[10..11] == "T" && word.ends_with('Z') {
        "<TIME>"
    } else if word.len() >= 11 && word.contains(':') && word.chars().all(|c| c == ':' || c.is_ascii_hexdigit()) {
        "<FP>"
    } else if b64(word)
        && (word.len() == 43 || (shortened && word.len() == 12))
        && word.chars().any(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        "<KID>"
    } else if word.len() > 1 && word.ends_with('s') && word[..word.len() - 1].chars().all(|c| c.is_ascii_digit()) {
        "<s>"
    } else {
        return None;
    };
    Some(p.to_owned())
}

/// `(in 89d)` → `(in <D>)`; `(now)`, `(3s ago)` → `(<AGO>)`.
fn relative_hints(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find(')') else { break };
        let inner = &rest[open + 1..open + close];
        let hint = if inner == "now" || inner.ends_with(" ago") {
            "(<AGO>)".to_owned()
        } else if inner.starts_with("in ") && inner.len() < 12 {
            "(in <D>)".to_owned()
        } else {
            format!("({inner})")
        };
        out.push_str(&hint);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[track_caller]
fn same(got: &str, want: &str) {
    let want = want.trim_matches('\n');
    assert!(got.trim_end() == want, "\n--- got ---\n{got}\n--- want ---\n{want}\n");
}

#[test]
fn client_output_for_people_and_scripts() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let k = start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
    let c = Cli::for_dev(&k, &dir);
    let list = ["credentials", "list", "--tenant", "dev", "--client", APP];
    let rotate = ["rotate", "client", "--tenant", "dev", "--client", APP];

    // Nothing yet: each empty result names the command to run next.
    same(
        &normalised(&c, &list),
        "
managed by keyward:
no credentials managed by keyward for demo-app; rotate one with:
  keyward rotate client --tenant dev --client demo-app

at Auth0:
Auth0 holds no private_key_jwt credentials for demo-app",
    );
    same(
        &normalised(&c, &["policy", "status", "--tenant", "dev"]),
        "
no rotation policies in tenant dev; set one with:
  keyward policy set --tenant dev --client CLIENT --max-key-age 90d",
    );
    assert_eq!(c.json(&["policy", "status", "--tenant", "dev"]), Value::Array(vec![]));
    let empty = c.json(&list);
    assert_eq!(empty["credentials"], Value::Array(vec![]), "{empty}");
    assert_eq!(empty["auth0_credentials"], Value::Array(vec![]), "{empty}");

    // The first rotation: what it did, then the new key.
    let first = c.text(&rotate);
    same(
        &normalise(&first),
        "
rotated the credential of client demo-app in tenant dev: <CRED> is active
rotation | <ROT>
state | COMPLETED
requested by | token-1
tenant | dev
client | demo-app
new credential | <CRED>
kid | <KID>
algorithm | RS256 (2048 bits)
custody | sealed
fingerprint | <FP>
created | <TIME> (<AGO>)
updated | <TIME> (<AGO>)",
    );
    let first_id = first.lines().find_map(|l| l.strip_prefix("rotation")).unwrap().trim().to_owned();
    let got = c.json(&["rotation", "get", &first_id]);
    for absent in ["request_id", "old_credential_id", "retire_at", "old_removed_at", "old_removed_how", "error"] {
        assert_eq!(got[absent], Value::Null, "{absent} is null when absent: {got}");
    }
    assert_eq!(got["removed_credentials"], Value::Array(vec![]), "{got}");
    assert!(got["created_at"].as_str().unwrap().ends_with('Z'), "{got}");

    // The second, with a lifetime: it expires, and the first key retires after the grace period.
    let second = c.text(&[&rotate[..], &["--lifetime", "90d"]].concat());
    same(
        &normalise(&second),
        "
rotated the credential of client demo-app in tenant dev: <CRED> is active
rotation | <ROT>
state | ACTIVE
requested by | token-1
tenant | dev
client | demo-app
new credential | <CRED>
kid | <KID>
algorithm | RS256 (2048 bits)
custody | sealed
fingerprint | <FP>
expires | <TIME> (in <D>)
old credential | <CRED>
old retires at | <TIME> (in <D>)
created | <TIME> (<AGO>)
updated | <TIME> (<AGO>)",
    );
    let second_id = second.lines().find_map(|l| l.strip_prefix("rotation")).unwrap().trim().to_owned();

    // The third finds both Auth0 slots taken: it evicts the first key and says so.
    same(
        &normalised(&c, &rotate),
        "
rotated the credential of client demo-app in tenant dev: <CRED> is active
rotation | <ROT>
state | ACTIVE
requested by | token-1
tenant | dev
client | demo-app
new credential | <CRED>
kid | <KID>
algorithm | RS256 (2048 bits)
custody | sealed
fingerprint | <FP>
old credential | <CRED>
old retires at | <TIME> (in <D>)
created | <TIME> (<AGO>)
updated | <TIME> (<AGO>)

removed from Auth0 to make room (1 credential):
  evicted <CRED> (managed by keyward, was RETIRING)
    name | keyward <KEYNAME>
    kid | <KID>
    why | both private_key_jwt slots were taken; its grace period was cut short; every assertion it
          signed had expired
    at | <TIME> (<AGO>)",
    );

    // The second rotation's old key left early: `rotation get` says when and how.
    let got = normalised(&c, &["rotation", "get", &second_id]);
    assert!(got.contains("\nold credential evicted at | <TIME> (<AGO>)\n"), "{got}");
    assert!(!got.contains("old retires at"), "{got}");

    // Listing: shortened ids, ages, relative expiry; --wide prints them whole.
    same(
        &normalised(&c, &list),
        "
managed by keyward:
CREDENTIAL | STATE | KID | ALG | CUSTODY | AGE | EXPIRES
<CRED>… | RETIRING | <KID>… | RS256/2048 | sealed | <s> | <TIME> (in <D>)
<CRED>… | ACTIVE | <KID>… | RS256/2048 | sealed | <s> | -

at Auth0:
ID | KID | ALG | ATTACHED | MANAGED | NAME
<CRED>… | <KID>… | RS256 | yes | yes | keyward <KEYNAME>
<CRED>… | <KID>… | RS256 | yes | yes | keyward <KEYNAME>",
    );
    let held = c.json(&list);
    let kid = held["credentials"][0]["kid"].as_str().unwrap();
    let retiring = held["credentials"][0]["credential_id"].as_str().unwrap().to_owned();
    assert!(!c.text(&list).contains(kid), "shortened");
    assert!(c.text(&[&list[..], &["--wide"]].concat()).contains(kid), "--wide prints the kid whole");

    // revoke says what happened.
    same(
        &normalised(
            &c,
            &["revoke", "--tenant", "dev", "--client", APP, "--credential", &retiring, "--reason", "lost laptop"],
        ),
        "
revoked <CRED>: signing with it stopped, gone from Auth0, key destroyed
revocation | <REV>
state | COMPLETED
tenant | dev
client | demo-app
credential | <CRED>
kid | <KID>
reason | lost laptop
requested by | token-1
at | <TIME> (<AGO>)
active credential | <CRED>",
    );

    // Policies: set says what it set, status shows compact durations, delete says what it deleted.
    let target = ["--tenant", "dev", "--client", APP];
    same(
        &normalised(
            &c,
            &[&["policy", "set"][..], &target, &["--max-key-age", "90d", "--window", "02:00-05:00"]].concat(),
        ),
        "
set the policy of client demo-app in tenant dev: max key age 90d, window 02:00-05:00 UTC
TARGET | AGE / MAX | WINDOW | DUE | STATUS | SOURCE | LAST RESULT
demo-app | <s> / 90d | 02:00-05:00 | <TIME> (in <D>) | ok | api | -",
    );
    same(
        &normalised(&c, &["policy", "status", "--tenant", "dev"]),
        "
TARGET | AGE / MAX | WINDOW | DUE | STATUS | SOURCE | LAST RESULT
demo-app | <s> / 90d | 02:00-05:00 | <TIME> (in <D>) | ok | api | -",
    );
    let policies = c.json(&["policy", "status", "--tenant", "dev"]);
    assert_eq!(policies[0]["max_key_age_seconds"], 90 * 86_400, "{policies}");
    assert_eq!(policies[0]["connection_id"], Value::Null, "{policies}");
    assert_eq!(policies[0]["interval_seconds"], Value::Null, "{policies}");
    same(
        &normalised(&c, &[&["policy", "delete"][..], &target].concat()),
        "deleted the policy of client demo-app in tenant dev",
    );

    // audit tail: JSON Lines; the table has one header and the events' details in words.
    let out = c.run(&["audit", "tail", "--json"]);
    let events: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let set = events.iter().find(|e| e["kind"] == "policy.set").unwrap()["id"].as_i64().unwrap();
    let tail = normalised(&c, &["audit", "tail", "--after", &(set - 1).to_string()]);
    let tail = tail.replacen(&format!("\n{set} |"), "\n<N> |", 1).replacen(&format!("\n{} |", set + 1), "\n<N> |", 1);
    same(
        &tail,
        "
ID | TIME | ACTOR | TARGET | KIND | DETAIL
<N> | <TIME> | token-1 | dev/demo-app | policy.set | kind=client
                                                                                  max_age=90d
                                                                                  window=02:00-05:00
<N> | <TIME> | token-1 | dev/demo-app | policy.deleted | kind=client",
    );
    assert_eq!(c.text(&["audit", "tail"]).matches("ID    TIME").count(), 1, "one header");
    same(
        &normalised(&c, &["audit", "tail", "--after", "1000000"]),
        "
no audit events to show; wait for new ones with:
  keyward audit tail --follow",
    );

    // The server's INVALID_ARGUMENT in the command line's terms.
    let out = c.run(&[&rotate[..], &["--bits", "1024"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.starts_with("keyward: INVALID_ARGUMENT: --bits (key_bits): "), "{err}");
}

#[test]
fn the_normaliser_hides_what_varies() {
    assert_eq!(
        normalise_line("cred_DberUGVp…  jSPNwmR9IaRV…  2026-12-07T11:39:32Z (in 89d)   3s"),
        "<CRED>… | <KID>… | <TIME> (in <D>) | <s>"
    );
    assert_eq!(normalise_line("kid  jSPNwmR9IaRVOou5HtWmtb5LJ4TWoLP_XIhSV8m73GY"), "kid | <KID>");
    assert_eq!(normalise_line("  at  2026-12-07T11:39:32Z (now)"), "  at | <TIME> (<AGO>)");
    assert_eq!(normalise_line("fingerprint  44:1D:AD:0E:A9:2B"), "fingerprint | <FP>");
    assert_eq!(normalise_line("revoked cred_vr9CU4arDigzgVwhwrduPW: done"), "revoked <CRED>: done");
    assert_eq!(normalise_line("95:FB:52:4A:…"), "<FP>…");
    assert_eq!(
        normalise_line("rotation.key_generated  demo-app  02:00-05:00  90d"),
        "rotation.key_generated | demo-app | 02:00-05:00 | 90d"
    );
}

/// `keyward status`, `rotation list|get` and `connection keys` against a real `keyward dev`.
#[test]
fn status_rotation_list_and_connection_keys() {
    let (_tmp, tmp) = tempdir();
    let dir = tmp.join("state");
    let k = start(&["dev", "--dir", &dir.display().to_string(), "--listen", "127.0.0.1:0"], &[]);
    let c = Cli::for_dev(&k, &dir);

    let status = normalised(&c, &["status"]);
    for needle in ["endpoint | http://", "store | sqlite", "you are | token-1 (by token)", "tenants | dev"] {
        assert!(status.contains(needle), "{needle}:\n{status}");
    }
    let status = c.json(&["status"]);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"), "{status}");
    assert_eq!((status["principal"].as_str(), status["store"].as_str()), (Some("token-1"), Some("sqlite")));
    assert_eq!(status["grants"][0]["permissions"], serde_json::json!(["admin"]), "{status}");

    // No rotations yet: said, with what to run.
    same(
        &normalised(&c, &["rotation", "list"]),
        "
no rotations found; start one with:
  keyward rotate client --tenant TENANT --client CLIENT",
    );
    assert_eq!(c.json(&["rotation", "list"])["rotations"], Value::Array(vec![]));

    let rotate = ["rotate", "client", "--tenant", "dev", "--client", APP];
    let ids: Vec<String> =
        (0..3).map(|_| c.json(&rotate)["rotation"]["rotation_id"].as_str().unwrap().to_owned()).collect();
    let listed = c.json(&["rotation", "list", "--tenant", "dev", "--client", APP]);
    let listed: Vec<&str> =
        listed["rotations"].as_array().unwrap().iter().map(|r| r["rotation_id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().rev().map(String::as_str).collect::<Vec<_>>(), "newest first");
    let one = c.json(&["rotation", "list", "--limit", "1"]);
    assert_eq!(one["rotations"].as_array().unwrap().len(), 1, "{one}");
    assert!(one["next_page_token"].is_string(), "more to read: {one}");
    let table = normalised(&c, &["rotation", "list", "--limit", "2"]);
    assert!(table.starts_with("ROTATION | STATE | TENANT | CLIENT | AGE | REMOVED | REQUESTED BY"), "{table}");
    assert_eq!(table.lines().filter(|l| l.contains("<ROT>")).count(), 2, "{table}");
    assert!(table.contains("more rotations: raise --limit"), "{table}");
    let completed = c.json(&["rotation", "list", "--state", "completed"]);
    assert!(completed["rotations"].as_array().unwrap().iter().all(|r| r["state"] == "COMPLETED"), "{completed}");
    // The third rotation evicted the first one's new credential: both sides say so.
    let wide = c.text(&["rotation", "list", "--wide"]);
    let newest = wide.lines().nth(1).unwrap();
    assert!(newest.starts_with(&ids[2]) && newest.contains(" yes "), "{wide}");
    // `rotation get` takes the id as the table shortens it.
    let short: String = ids[1].chars().take(12).chain(['…']).collect();
    let got = c.json(&["rotation", "get", &short]);
    assert_eq!(got["rotation_id"], ids[1].as_str(), "{got}");
    assert_eq!(got["old_removed_how"], "evicted", "{got}");
    let refused = c.run(&["rotation", "list", "--state", "bogus"]);
    assert_eq!(refused.status.code(), Some(64));
    let refused = c.run(&["rotation", "list", "--client", APP]);
    assert_eq!(refused.status.code(), Some(64), "--client needs --tenant");

    // A connection's keys: read, verified, nothing rotated.
    let keys = ["connection", "keys", "--tenant", "dev", "--connection", "con_demooidc0000001"];
    let table = normalised(&c, &keys);
    assert!(table.starts_with("KID | ALG | ROLE | CURRENT SINCE | FINGERPRINT | CHECK"), "{table}");
    assert!(table.contains("verified: every key's certificate"), "{table}");
    let before = c.json(&keys);
    assert_eq!(before["verified"], true, "{before}");
    assert_eq!(c.json(&keys), before, "reading changes nothing");
    let missing = c.run(&["connection", "keys", "--tenant", "dev", "--connection", "con_nope00000000"]);
    assert_eq!(missing.status.code(), Some(1), "{}", String::from_utf8_lossy(&missing.stderr));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("keyward: NOT_FOUND"), "{missing:?}");
}
