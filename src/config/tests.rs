//! The configuration's tests: the committed example, precedence, and every error at once.

use keyward_crypto::Algorithm;
use secrecy::ExposeSecret;

use super::defaults::DEFAULT_GRACE;
use super::*;
use crate::custody::Custody;

const EXAMPLE: &str = include_str!("../../deploy/keyward.example.toml");

/// The example with its token-hash placeholders filled in, as an operator would: the
/// administrator's first, then billing-service's.
fn example() -> String {
    let mut hashes = ["a1".repeat(32), "b2".repeat(32)].into_iter();
    let lines: Vec<String> = EXAMPLE
        .lines()
        .map(|line| match line.split_once("= [\"REPLACE_ME") {
            Some((key, _)) => format!("{key}= [\"{}\"]", hashes.next().expect("two placeholders")),
            None => line.to_owned(),
        })
        .collect();
    assert_eq!(hashes.next(), None, "the example has two token-hash placeholders");
    lines.join("\n")
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn example_config_parses() {
    let c =
        Config::resolve(&example(), &env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "s3cret")]), &Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
    assert!(c.store_url.starts_with("sqlite://"));
    assert_eq!(c.defaults, Defaults { grace_period: DEFAULT_GRACE, algorithm: Algorithm::RS256, key_bits: 2048 });
    let dev = &c.tenants["dev"];
    assert!(dev.clients.contains("demo-app"));
    match &dev.management_auth {
        ManagementAuth::Secret(s) => assert_eq!(s.expose_secret(), "s3cret"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{c:?}").contains("s3cret"), "secrets never in Debug");
    let billing = c.access.by_token_hash(&token_hash::parse_hex(&"b2".repeat(32)).unwrap()).unwrap();
    assert_eq!(billing.name, "billing-service");
    assert!(billing.may(crate::access::Permission::Sign, "dev", Some("demo-app")));
    assert!(!billing.may(crate::access::Permission::Rotate, "dev", Some("demo-app")));
    assert_eq!(
        c.signer,
        SignerConfig {
            threads: 0,
            queue: 1024,
            token_cache_entries: 1024,
            overload_pushback: Duration::from_secs(2),
            ..SignerConfig::default()
        }
    );
    assert_eq!(dev.signing.max_jwt_lifetime, Duration::from_secs(3600));
    assert_eq!(dev.inventory.expiry_window, Duration::from_secs(30 * 86_400));
}

#[test]
fn the_inventory_expiry_window_is_a_duration_from_an_hour_to_a_year() {
    let base = example();
    let vars = env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "s3cret")]);
    let with = |window: &str| base.replace("expiry_window = \"30d\"", &format!("expiry_window = {window:?}"));
    let c = Config::resolve(&with("7d"), &vars, &Overrides::default()).unwrap();
    assert_eq!(c.tenants["dev"].inventory.expiry_window, Duration::from_secs(7 * 86_400));
    for bad in ["59m", "366d", "soon"] {
        let Err(Error::Config(problems)) = Config::resolve(&with(bad), &vars, &Overrides::default()) else {
            panic!("{bad} must be refused");
        };
        assert_eq!(
            problems,
            [format!("tenants.dev.inventory.expiry_window: {bad:?} is not a duration from 1h to 365d")]
        );
    }
    let unknown = base.replace("expiry_window = \"30d\"", "expiry_window = \"30d\", window = \"1d\"");
    assert!(Config::resolve(&unknown, &vars, &Overrides::default()).is_err(), "unknown keys are refused");
    let without = base.replace("inventory = { expiry_window = \"30d\" }", "");
    let c = Config::resolve(&without, &vars, &Overrides::default()).unwrap();
    assert_eq!(c.tenants["dev"].inventory, InventoryPolicy::default());
}

#[test]
fn signing_keys_policies_take_an_interval_of_at_least_a_day() {
    let vars = env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "s3cret")]);
    let with = |policy: &str| format!("{}\n[[policies]]\ntenant = \"dev\"\n{policy}\n", example());
    let c = Config::resolve(&with("signing_keys = true\ninterval = \"90d\""), &vars, &Overrides::default()).unwrap();
    let p = c.operations.policies.iter().find(|p| p.target == PolicyTarget::SigningKeys).expect("the policy");
    assert_eq!((p.tenant.as_str(), p.max_age), ("dev", Duration::from_secs(90 * 86_400)));
    for (bad, expected) in [
        ("signing_keys = true\ninterval = \"12h\"", "policies[0].interval: must be at least 1 day for signing keys"),
        ("signing_keys = true\nmax_key_age = \"90d\"", "policies[0]: set either client with max_key_age"),
        ("signing_keys = true\nclient = \"demo-app\"\ninterval = \"90d\"", "policies[0]: set either"),
    ] {
        let Err(Error::Config(problems)) = Config::resolve(&with(bad), &vars, &Overrides::default()) else {
            panic!("{bad} must be refused");
        };
        assert!(problems.iter().any(|p| p.starts_with(expected)), "{bad}: {problems:?}");
    }
    let elsewhere =
        format!("{}\n[[policies]]\ntenant = \"prod\"\nsigning_keys = true\ninterval = \"90d\"\n", example());
    let Err(Error::Config(problems)) = Config::resolve(&elsewhere, &vars, &Overrides::default()) else {
        panic!("an unknown tenant must be refused");
    };
    assert!(
        problems.iter().any(|p| p.contains("signing keys of tenant \"prod\", which is not configured")),
        "{problems:?}"
    );
}

#[test]
fn parse_errors_name_the_place_and_key_never_the_value() {
    let e = env(&[]);
    for (text, key) in [
        ("management_client_sekret = \"s3cret-value\"\n", "management_client_sekret"),
        ("listen = \"127.0.0.1:1\"\n[kek]\nfile = 1234567\n", "file"),
        ("[tenants.dev]\nmanagement_client_secret = \"s3cret-value\" oops\n", ""),
    ] {
        let Err(Error::Config(errors)) = Config::resolve(text, &e, &Overrides::default()) else {
            panic!("accepted {text:?}")
        };
        let line = errors.join("; ");
        assert!(line.starts_with("line "), "{line}");
        assert!(line.contains(key), "{line}");
        assert!(!line.contains("s3cret-value") && !line.contains("1234567"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn lease_timing_is_checked_against_the_ttl() {
    let e = env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "x")]);
    let with = |scheduler: &str| format!("{}\n[scheduler]\nlease_ttl = \"30s\"\n{scheduler}\n", example());
    let c = Config::resolve(&with(r#"lease_renew_interval = "4s""#), &e, &Overrides::default()).unwrap();
    let lease = c.operations.scheduler.lease;
    assert_eq!((lease.renew, lease.call_deadline), (Duration::from_secs(4), lease.ttl - Duration::from_secs(4)));
    for bad in [r#"lease_renew_interval = "25s""#, r#"lease_renew_interval = "10ms""#] {
        let Err(Error::Config(errors)) = Config::resolve(&with(bad), &e, &Overrides::default()) else {
            panic!("accepted {bad}")
        };
        assert!(errors.iter().any(|m| m.contains("scheduler.lease_renew_interval") && m.contains("lease_ttl")));
    }
}

#[test]
fn precedence_is_flag_then_env_then_file() {
    let e = env(&[
        ("AUTH0_DEV_MANAGEMENT_SECRET", "x"),
        ("KEYWARD_LISTEN", "127.0.0.1:7000"),
        ("KEYWARD_STORE", "postgres://db/k"),
    ]);
    let c = Config::resolve(&example(), &e, &Overrides::default()).unwrap();
    assert_eq!((c.listen.port(), c.store_url.as_str()), (7000, "postgres://db/k"));
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        limits: LimitOverrides { max_connections: Some("7".into()), ..LimitOverrides::default() },
        ..Overrides::default()
    };
    let e = env(&[
        ("AUTH0_DEV_MANAGEMENT_SECRET", "x"),
        ("KEYWARD_LISTEN", "127.0.0.1:7000"),
        ("KEYWARD_MAX_CONNECTIONS", "5"),
    ]);
    let c = Config::resolve(&example(), &e, &flags).unwrap();
    assert_eq!((c.listen.port(), c.limits.max_connections), (0, 7));
}

#[test]
fn the_examples_placeholders_are_refused_with_how_to_make_a_hash() {
    let Err(Error::Config(errors)) =
        Config::resolve(EXAMPLE, &env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "x")]), &Overrides::default())
    else {
        panic!("the example's placeholders were accepted")
    };
    assert_eq!(errors.len(), 2, "only the placeholders are wrong: {errors:#?}");
    for (e, field) in errors.iter().zip(["auth.bearer_token_sha256[0]", "principals[0].bearer_token_sha256[0]"]) {
        assert!(e.starts_with(&format!("{field}: still the example's placeholder")), "{e}");
        assert!(e.contains("openssl rand -hex 32") && e.contains("sha256sum"), "{e}");
    }
}

#[test]
fn plaintext_grpc_leaves_loopback_only_when_allowed_and_http_reaches_only_loopback() {
    let e = env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "x")]);
    let open = Overrides { listen: Some("0.0.0.0:50051".into()), ..Overrides::default() };
    let Err(Error::Config(errors)) = Config::resolve(&example(), &e, &open) else {
        panic!("plaintext on 0.0.0.0 without [tls] was accepted")
    };
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("listen: 0.0.0.0:50051") && errors[0].contains("[tls]"), "{errors:?}");
    assert!(errors[0].contains("allow_plaintext = true"), "{errors:?}");
    let allowed = format!("allow_plaintext = true\n{}", example());
    assert_eq!(Config::resolve(&allowed, &e, &open).unwrap().listen.to_string(), "0.0.0.0:50051");

    let with_tenant = |base_url: &str| {
        format!(
            "{}\n[tenants.other]\ndomain = \"o.example\"\nbase_url = \"{base_url}\"\n\
             management_client_id = \"m\"\nmanagement_client_secret = \"s3cret-value\"\n",
            example()
        )
    };
    assert!(Config::resolve(&with_tenant("http://127.0.0.1:4000"), &e, &Overrides::default()).is_ok());
    let Err(Error::Config(errors)) =
        Config::resolve(&with_tenant("http://auth0-emulator:8081"), &e, &Overrides::default())
    else {
        panic!("http:// to another host was accepted")
    };
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("tenants.other.base_url: http:// is allowed only to a loopback host"), "{errors:?}");
    assert!(!errors[0].contains("s3cret-value") && !errors[0].contains("auth0-emulator"), "{errors:?}");
}

#[test]
fn every_error_is_reported_at_once() {
    let bad = r#"
        listen = "nowhere"
        store = "mysql://x"
        [auth]
        bearer_token_sha256 = ["abc"]
        [defaults]
        algorithm = "ES256"
        key_bits = 1024
        grace_period = "soon"
        [tenants."bad name"]
        domain = "x/y"
        management_client_id = "m"
    "#;
    let Err(Error::Config(errors)) = Config::resolve(bad, &HashMap::new(), &Overrides::default()) else {
        panic!("accepted a bad config")
    };
    let text = errors.join("\n");
    for expected in [
        "listen",
        "store",
        "kek",
        "bearer_token_sha256[0]",
        "algorithm",
        "key_bits",
        "grace_period",
        "domain",
        "exactly one of",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    let Err(Error::Config(errors)) =
        Config::resolve("listen = 1\nbogus = true\n", &HashMap::new(), &Overrides::default())
    else {
        panic!()
    };
    assert_eq!(errors.len(), 1);
    assert!(!errors[0].contains('\n'));
}

#[test]
fn unknown_keys_are_listed_with_every_other_problem_never_their_values() {
    let text = "listen = \"nowhere\"\nlisten_port = \"s3cret-value\"\n[limits]\nmax_streams = 1\n\
                [tenants.dev]\ndomain = \"d.example\"\nmanagement_client_id = \"m\"\nmanagement_secret = \"x\"\n";
    let Err(Error::Config(errors)) = Config::resolve(text, &HashMap::new(), &Overrides::default()) else {
        panic!("accepted unknown keys")
    };
    for expected in [
        "line 2: unknown key listen_port",
        "line 4: unknown key limits.max_streams",
        "line 8: unknown key tenants.dev.management_secret",
    ] {
        assert!(errors.iter().any(|e| e == expected), "missing {expected} in {errors:?}");
    }
    assert!(errors.iter().any(|e| e.starts_with("listen")), "the bad value is listed too: {errors:?}");
    assert!(errors.iter().all(|e| !e.contains("s3cret-value")), "{errors:?}");
}

#[test]
fn principal_and_signer_problems_are_named() {
    let bad = r#"
        store = "sqlite://k.db"
        [kek]
        env = "K"
        [[principals]]
        name = "svc one"
        bearer_token_sha256 = ["xyz"]
        mtls_san = ["spiffe://x/y"]
        [[principals.grants]]
        permissions = ["sign", "fly"]
        [signer]
        queue = 0
        overload_pushback = "1m"
        [tenants.dev]
        domain = "d.example"
        management_client_id = "m"
        management_client_secret = "s"
        max_jwt_lifetime = "3d"
    "#;
    let env = HashMap::from([
        ("KEYWARD_SIGNER_INLINE_EC".to_owned(), "yes".to_owned()),
        ("KEYWARD_SIGNER_OVERLOAD_PUSHBACK".to_owned(), "soon".to_owned()),
    ]);
    let Err(Error::Config(errors)) = Config::resolve(bad, &env, &Overrides::default()) else {
        panic!("accepted a bad config")
    };
    let text = errors.join("\n");
    for expected in [
        "principals[0].name",
        "principals[0].bearer_token_sha256[0]",
        "principals[0].grants[0].permissions: \"fly\"",
        "principals.mtls_san: needs tls.client_ca_file",
        "signer:",
        "signer.overload_pushback: must be a duration from 0s to 10s",
        "tenants.dev.max_jwt_lifetime",
        "KEYWARD_SIGNER_INLINE_EC: must be true or false",
        "KEYWARD_SIGNER_OVERLOAD_PUSHBACK: must be a duration from 0s to 10s",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
}

#[test]
fn custody_in_the_token_needs_a_token_and_known_names() {
    let base = example();
    let with = |extra: &str| base.replace("[tenants.dev]\n", &format!("[tenants.dev]\n{extra}\n"));
    let text = with("custody = \"pkcs11\"\nclient_custody = { \"demo-app\" = \"sealed\" }");
    let vars = env(&[("AUTH0_DEV_MANAGEMENT_SECRET", "s3cret")]);
    let Err(Error::Config(problems)) = Config::resolve(&text, &vars, &Overrides::default()) else {
        panic!("pkcs11 custody without [kek] pkcs11 must be refused");
    };
    assert_eq!(problems, ["tenants.dev.custody: pkcs11 keeps keys in a token: configure [kek] pkcs11"]);
    let token =
        [("KEYWARD_PKCS11_MODULE", "/m.so"), ("KEYWARD_PKCS11_TOKEN", "kw"), ("AUTH0_DEV_MANAGEMENT_SECRET", "s")];
    let c = Config::resolve(&text, &env(&token), &Overrides::default()).unwrap();
    let custody = &c.tenants["dev"].custody;
    assert_eq!((custody.for_client("demo-app"), custody.for_client("other")), (Custody::Sealed, Custody::Pkcs11));
    let text = with("custody = \"hsm\"\nclient_custody = { \"demo-app\" = \"vault\" }");
    let Err(Error::Config(problems)) = Config::resolve(&text, &env(&token), &Overrides::default()) else {
        panic!("unknown custody names must be refused");
    };
    assert_eq!(
        problems,
        [
            "tenants.dev.custody: must be sealed or pkcs11",
            "tenants.dev.client_custody.demo-app: must be sealed or pkcs11"
        ]
    );
}
