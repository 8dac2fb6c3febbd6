"""Drives the emulator with Auth0's official Python SDK (auth0-python), unmodified.

Usage: auth0_python_sdk.py DOMAIN PUBLIC_PEM PRIVATE_PEM
The caller trusts the emulator's CA through SSL_CERT_FILE / REQUESTS_CA_BUNDLE. Prints one JSON
object describing what happened; any exception exits non-zero.
"""
import json
import sys

from auth0.authentication import GetToken
from auth0.management import ManagementClient

domain, public_pem_path, private_pem_path = sys.argv[1:4]
public_pem = open(public_pem_path).read()
private_pem = open(private_pem_path).read()
out = {}

# Management API token with client_secret_post.
mgmt = GetToken(domain, "keyward-management", client_secret="dev-management-secret-change-me")
token = mgmt.client_credentials(f"https://{domain}/api/v2/")
out["management_token_type"] = token["token_type"]

api = ManagementClient(domain=domain, token=token["access_token"])
out["client_id"] = api.clients.get("demo-app").client_id

# A client credential: create, list, read, attach to private_key_jwt.
created = api.clients.credentials.create(
    "demo-app", credential_type="public_key", name="sdk-key", pem=public_pem, alg="RS256"
)
out["credential_id"] = created.id
out["kid"] = created.kid
out["listed"] = [c.id for c in api.clients.credentials.list("demo-app")]
out["read_kid"] = api.clients.credentials.get("demo-app", created.id).kid
updated = api.clients.update(
    "demo-app",
    client_authentication_methods={"private_key_jwt": {"credentials": [{"id": created.id}]}},
)
methods = updated.client_authentication_methods
out["attached"] = [c.id for c in methods.private_key_jwt.credentials]

# The SDK's own private_key_jwt: a token for demo-app signed with the registered key.
app = GetToken(domain, "demo-app", client_assertion_signing_key=private_pem, client_assertion_signing_alg="RS256")
app_token = app.client_credentials("https://api.demo.local/")
out["app_token_type"] = app_token["token_type"]
out["app_scope"] = app_token.get("scope")

# Connection keys: read, rotate, read again.
before = api.connections.keys.get("con_demooidc0000001")
out["keys_before"] = [k.kid for k in before]
rotated = api.connections.keys.rotate("con_demooidc0000001")
out["rotated_kid"] = rotated.kid
after = api.connections.keys.get("con_demooidc0000001")
out["keys_after"] = [{"kid": k.kid, "next": bool(k.next), "current": bool(k.current)} for k in after]

# Detach and delete the credential.
api.clients.update("demo-app", client_authentication_methods={"private_key_jwt": {"credentials": []}})
api.clients.credentials.delete("demo-app", created.id)
out["after_delete"] = [c.id for c in api.clients.credentials.list("demo-app")]

print(json.dumps(out))
