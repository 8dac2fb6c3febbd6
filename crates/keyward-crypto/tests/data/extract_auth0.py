#!/usr/bin/env python3
"""Regenerates auth0-recorded-keys.json from the Auth0 recordings in ../shared (tests never run this).

Run from the repository root:  python3 crates/keyward-crypto/tests/data/extract_auth0.py
"""
import glob, json, os, yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
REC = os.path.join(ROOT, "..", "shared", "auth0", "recordings")
OUT = os.path.join(os.path.dirname(__file__), "auth0-recorded-keys.json")

conn_keys, creds = {}, {}
for path in sorted(glob.glob(os.path.join(REC, "*", "*.yaml"))):
    source = os.path.relpath(path, REC)
    for it in yaml.safe_load(open(path))["interactions"]:
        req, resp = it["request"], it["response"]
        try:
            body = json.loads(resp["body"])
        except Exception:
            body = None
        items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        for k in items:
            if isinstance(k, dict) and "cert" in k and "kid" in k and k["kid"] not in conn_keys and "REDACTED" not in k["cert"]:
                fields = ["kid", "algorithm", "key_use", "subject_dn", "cert", "fingerprint", "thumbprint", "pkcs"]
                kind = "tenant_signing_key" if "SigningKey" in source else "connection_key"
                conn_keys[k["kid"]] = {"source": f"{source}#{it['id']}", "kind": kind, **{f: k[f] for f in fields if f in k}}
        if req["method"] == "POST" and req["url"].endswith("/credentials"):
            try:
                rb = json.loads(req["body"])
            except Exception:
                continue
            if rb.get("credential_type") == "public_key" and "BEGIN" in rb.get("pem", "") and isinstance(body, dict) and body.get("kid"):
                creds.setdefault(body["kid"], {"source": f"{source}#{it['id']}", "pem": rb["pem"], "alg": body.get("alg"), "kid": body["kid"]})

json.dump({"connection_keys": list(conn_keys.values()), "credentials": list(creds.values())}, open(OUT, "w"), indent=1)
print(f"{len(conn_keys)} connection keys, {len(creds)} credentials")
