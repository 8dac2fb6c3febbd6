//! Fidelity: Auth0's own recordings (go-auth0 and terraform-provider-auth0 cassettes, extracted
//! into `tests/data/recorded_replays.json`) replayed against the emulator over real HTTP. Every
//! answer must have the recorded status, content type and body shape, carry the rate-limit
//! headers, and conform to the patched OAS subset. go-auth0's tenant signing-key recordings
//! (`tests/data/recorded_signing_keys.json`, redacted) are replayed as shape fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use fidelity::oas::Oas;
use fidelity::replay::{Scenario, fixture, replay};
use fidelity::signing_keys;
use serde_json::{Value, json};

/// Replays the scenarios `pick` selects; fails listing every difference.
async fn replay_all(pick: fn(&Scenario) -> bool) {
    let fixture = fixture();
    let oas = Oas::load();
    let chosen: Vec<&Scenario> = fixture.scenarios.iter().filter(|s| pick(s)).collect();
    assert!(!chosen.is_empty(), "no scenario selected");
    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    for scenario in chosen {
        let outcome = replay(&fixture, scenario, &oas).await;
        problems.extend(outcome.problems.iter().cloned());
        outcomes.push((scenario.name.clone(), outcome));
    }
    assert!(problems.is_empty(), "{} difference(s) from Auth0's recordings:\n{}", problems.len(), problems.join("\n"));
    for (name, outcome) in outcomes {
        assert!(outcome.compared > 0, "{name}: nothing compared");
        assert!(outcome.validated >= outcome.compared, "{name}: not every answer was validated");
    }
}

#[tokio::test]
async fn go_auth0_credential_and_auth_method_recordings_replay() {
    replay_all(|s| s.source.starts_with("go-auth0/TestClient")).await;
}

#[tokio::test]
async fn terraform_credential_and_auth_method_recordings_replay() {
    replay_all(|s| s.source.starts_with("terraform-provider-auth0/TestAccClient")).await;
}

#[tokio::test]
async fn connection_key_recordings_replay() {
    replay_all(|s| s.source.contains("/TestConnection") || s.source.contains("/TestAccConnection")).await;
}

#[tokio::test]
async fn client_credentials_token_recordings_replay() {
    replay_all(|s| s.source.contains("/authentication__TestLoginWithClientCredentials")).await;
}

/// go-auth0's TestSigningKey__* recordings, as shape fixtures (their values are redacted).
#[tokio::test]
async fn signing_key_recordings_replay() {
    let oas = Oas::load();
    let recordings = signing_keys::recordings();
    let names: Vec<&str> = recordings.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["TestSigningKey__List", "TestSigningKey__Read", "TestSigningKey__Rotate", "TestSigningKey__Revoke"]
    );
    let mut problems = Vec::new();
    for recording in &recordings.scenarios {
        assert!(recording.source.ends_with(&format!("{}.yaml", recording.name)));
        let (found, compared) = signing_keys::replay(recording, &oas).await;
        assert_eq!(compared, recording.steps.len(), "{}: {found:?}", recording.name);
        problems.extend(found);
    }
    assert!(problems.is_empty(), "{} difference(s) from Auth0's recordings:\n{}", problems.len(), problems.join("\n"));
}

/// The signing-key comparison notices each of these changes to a recording.
#[tokio::test]
async fn signing_key_replay_notices_answers_that_differ() {
    let oas = Oas::load();
    let recordings = signing_keys::recordings();
    type Mutation = (&'static str, &'static str, fn(&mut Value));
    let mutations: [Mutation; 6] = [
        ("TestSigningKey__Read", "members in order", |v| {
            let key = v.as_object_mut().unwrap();
            let kid = key.shift_remove("kid").unwrap();
            key.insert("kid".into(), kid);
        }),
        ("TestSigningKey__Read", "recorded member pkcs is missing", |v| {
            let key = v.as_object_mut().unwrap();
            let p7 = key.shift_remove("pkcs7").unwrap();
            key.insert("pkcs".into(), p7);
        }),
        ("TestSigningKey__Read", "current: recorded string", |v| v["current"] = json!("true")),
        ("TestSigningKey__Rotate", "cert framing", |v| {
            v["cert"] = json!(format!("{}\r\n", v["cert"].as_str().unwrap()));
        }),
        ("TestSigningKey__Revoke", "kid", |v| v["kid"] = json!("4e7yYf0TKdyTLbVnpq2wLN6mZ8t7eb9UJkMksyHj9iU")),
        ("TestSigningKey__List", "2 keys, recorded 3", |v| {
            let first = v[0].clone();
            v.as_array_mut().unwrap().insert(0, first);
        }),
    ];
    for (name, expect, mutate) in mutations {
        let mut recording = recordings.scenarios.iter().find(|s| s.name == name).unwrap().clone();
        mutate(&mut recording.steps.last_mut().unwrap().response);
        let (problems, _) = signing_keys::replay(&recording, &oas).await;
        assert!(problems.iter().any(|p| p.contains(expect)), "{name}, {expect}: {problems:#?}");
    }
}

#[test]
fn every_recording_is_replayed_or_skipped_with_a_reason() {
    let fixture = fixture();
    let oas = Oas::load();
    assert_eq!(fixture.scenarios.len(), 24);
    for s in &fixture.scenarios {
        assert!(s.steps.iter().any(|st| st.setup.is_none()), "{} replays nothing recorded", s.name);
        assert!(s.source.ends_with(&format!("{}.yaml", s.name)));
        for st in &s.steps {
            for a in &st.allow {
                assert!(fixture.allowances.contains_key(a), "{}: allowance {a} is not described", st.reference);
            }
            // Every operation replayed is one the OAS subset documents.
            let _ = oas.response(&st.operation, 200);
        }
    }
    assert!(fixture.skipped.values().all(|why| why.contains("not emulated")), "{:?}", fixture.skipped);
    for s in &fixture.scenarios {
        assert!(!fixture.skipped.contains_key(&s.source), "{} is both replayed and skipped", s.source);
    }
}

/// The replay is only as good as its comparisons: each of these changes to a recording must be
/// reported.
#[tokio::test]
async fn replay_notices_answers_that_differ_from_the_recording() {
    let fixture = fixture();
    let oas = Oas::load();
    type Mutation = (&'static str, &'static str, fn(&mut Scenario));
    let mutations: [Mutation; 9] = [
        ("TestClient_UpdateCredential", "kid: recorded", |s| s.step_mut("#1").response["kid"] = json!("A".repeat(43))),
        ("TestClient_UpdateCredential", "status 204, recorded 200", |s| s.step_mut("#3").status = 200),
        ("TestClient_UpdateCredential", "content-type", |s| s.step_mut("#2").content_type = Some("text/plain".into())),
        ("TestClient_UpdateCredential", "members: recorded", |s| {
            s.step_mut("#2").response["thumbprint_sha256"] = json!("x");
        }),
        ("TestClient_UpdateCredential", "expires_at: recorded", |s| {
            s.step_mut("#2").response["expires_at"] = json!("2023-05-16T09:07:31.535Z");
        }),
        ("TestConnectionManager_RotateKeys", "statuses: recorded", |s| {
            let keys = s.step_mut("#3").response.as_array_mut().unwrap();
            keys.swap(0, 2);
        }),
        ("TestAccConnectionRotateDataKeys", "members in order", |s| {
            let key = s.step_mut("#4").response.as_object_mut().unwrap();
            let kid = key.shift_remove("kid").unwrap();
            key.insert("kid".into(), kid);
        }),
        ("TestAccClientAuthenticationMethodsSignedRequestObject", "signed_request_object: recorded", |s| {
            s.step_mut("#17").response["signed_request_object"]["required"] = json!(false);
        }),
        ("authentication__TestLoginWithClientCredentials__Should_return_tokens", "expires_in", |s| {
            s.step_mut("#0").response["expires_in"] = json!(3600);
        }),
    ];
    for (name, expect, mutate) in mutations {
        let mut scenario = fixture.scenarios.iter().find(|s| s.name == name).unwrap().clone();
        mutate(&mut scenario);
        let outcome = replay(&fixture, &scenario, &oas).await;
        assert!(outcome.problems.iter().any(|p| p.contains(expect)), "{name}, {expect}: {:#?}", outcome.problems);
    }
}
