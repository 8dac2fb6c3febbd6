//! The OAS subset in `tests/data/oas_subset.json` and its validator: the validator refuses what
//! the schemas forbid, every recorded Auth0 answer the replays use fits the patched schemas, and
//! each patch is needed (the unpatched schema refuses a recorded answer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use fidelity::oas::Oas;
use fidelity::replay::{fixture, schema_for};
use serde_json::{Value, json};

fn credential() -> Value {
    json!({"id": "cred_1m7sfABoNTTKYwTQ8qt6tX", "credential_type": "public_key", "kid": "4e7yYf0TKdyTLbVnpq2wLN6mZ8t7eb9UJkMksyHj9iU",
        "alg": "RS256", "created_at": "2023-04-18T13:44:26.279Z", "updated_at": "2023-04-18T13:44:26.279Z"})
}

#[test]
fn the_validator_refuses_what_the_schemas_forbid() {
    let oas = Oas::load();
    let cred = oas.component("ClientCredential");
    assert_eq!(oas.validate(cred, &credential()), Vec::<String>::new());
    let mut cases: Vec<(&str, Value, Value, &str)> = vec![
        ("ClientCredential", json!("kid"), json!(42), "expected string"),
        ("ClientCredential", json!("alg"), json!("ES256"), "is not one of"),
        ("ClientCredential", json!("expires_at"), json!("yesterday"), "is not a date-time"),
        ("ClientCredential", json!("expires_at"), json!(5), "expected string or null"),
    ];
    for (schema, field, bad, why) in cases.drain(..) {
        let mut v = credential();
        v[field.as_str().unwrap()] = bad;
        let errors = oas.validate(oas.component(schema), &v);
        assert!(errors.iter().any(|e| e.contains(why)), "{field}: {errors:?}");
    }
    let client = oas.component("GetClientResponseContent");
    let two_methods = json!({"client_authentication_methods": {"private_key_jwt": {"credentials": []}, "tls_client_auth": {"credentials": []}}});
    assert!(oas.validate(client, &two_methods).iter().any(|e| e.contains("maxProperties 1")));
    let extra = json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_1m7sfABoNTTKYwTQ8qt6tX", "kid": "x"}]}}});
    assert!(oas.validate(client, &extra).iter().any(|e| e.contains("additional property kid")));
    let vault = |ip: &str| json!({"token_vault_privileged_access": {"credentials": [], "ip_allowlist": [ip]}});
    assert!(oas.validate(client, &vault("10.0.0.1")).is_empty());
    assert!(oas.validate(client, &vault("10.0.0.0/8")).is_empty());
    assert!(oas.validate(client, &vault("300.0.0.1")).iter().any(|e| e.contains("oneOf")));
    let key = oas.component("ConnectionKey");
    assert!(
        oas.validate(key, &json!({"kid": "k", "fingerprint": "f", "thumbprint": "t"}))
            .iter()
            .any(|e| e.contains("cert is missing"))
    );
    let token = oas.component("AuthTokenResponse");
    assert!(
        oas.validate(token, &json!({"access_token": "a", "token_type": "bearer", "expires_in": 1}))
            .iter()
            .any(|e| e.contains("is not one of"))
    );
    assert!(
        oas.validate(token, &json!({"access_token": "a", "token_type": "Bearer", "expires_in": 1.5}))
            .iter()
            .any(|e| e.contains("expected integer"))
    );
    let envelope = oas.component("ManagementErrorEnvelope");
    assert!(
        oas.validate(envelope, &json!({"statusCode": "400", "error": "Bad Request", "message": "m"}))
            .iter()
            .any(|e| e.contains("expected integer"))
    );
    // A keyword the validator does not know is reported, never silently passed.
    assert!(oas.validate(&json!({"not": {}}), &json!(1)).iter().any(|e| e.contains("unsupported schema keyword not")));
}

#[test]
fn recorded_answers_fit_the_patched_schemas() {
    let (fixture, oas) = (fixture(), Oas::load());
    let mut checked = 0;
    for s in &fixture.scenarios {
        for st in s.steps.iter().filter(|st| !st.recorded_body_is_exempt() && !st.response.is_null()) {
            let schema = schema_for(&oas, &st.operation, st.status).unwrap().expect("a documented body");
            let errors = oas.validate(schema, &st.response);
            assert!(errors.is_empty(), "{}: {errors:?}", st.reference);
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}

/// Takes a patch back out and finds a recorded answer the unpatched schema refuses.
#[test]
fn every_patch_is_recorded_with_its_reference_and_needed() {
    let oas = Oas::load();
    assert_eq!(oas.patches().len(), 8);
    for patch in oas.patches() {
        let reference = patch["reference"].as_str().unwrap();
        assert!(reference.contains("§10") || reference.contains("REC-TF"), "{patch}");
    }
    let fixture = fixture();
    let recorded = |suffix: &str| -> Value {
        let step = fixture.scenarios.iter().flat_map(|s| &s.steps).find(|st| st.reference.ends_with(suffix)).unwrap();
        step.response.clone()
    };
    // §10 PATCH credential status: the OAS's 201 is not what Auth0 answers.
    assert_eq!(oas.response("PATCH /clients/{client_id}/credentials/{credential_id}", 201), None);
    assert!(oas.response("PATCH /clients/{client_id}/credentials/{credential_id}", 200).is_some());
    // §10 no expires_at: a 2023 answer carries null, which a string-only expires_at refuses.
    let mut unpatched = oas.component("ClientCredential").clone();
    unpatched["properties"]["expires_at"]["type"] = json!("string");
    let list = recorded("TestClient_ListCredentials.yaml#2");
    assert!(!oas.validate(&unpatched, &list[0]).is_empty());
    assert!(oas.validate(oas.component("ClientCredential"), &list[0]).is_empty());
    // Token Vault grants and null signed_request_object / token_vault_privileged_access.
    let mut vault = oas.component("ClientTokenVaultPrivilegedAccessWithCredentialId").clone();
    vault["properties"].as_object_mut().unwrap().remove("grants");
    let answer = recorded("TestAccClientCredentialsTokenVaultPrivilegedAccess.yaml#7");
    assert!(!oas.validate(&vault, &answer["token_vault_privileged_access"]).is_empty());
    for name in ["ClientSignedRequestObjectWithCredentialId", "ClientTokenVaultPrivilegedAccessWithCredentialId"] {
        let mut unpatched = oas.component(name).clone();
        unpatched["type"] = json!("object");
        assert!(!oas.validate(&unpatched, &Value::Null).is_empty(), "{name}");
        assert!(oas.validate(oas.component(name), &Value::Null).is_empty(), "{name}");
    }
}
