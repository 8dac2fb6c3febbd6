"""Drives the emulator with Auth0's official Python SDK (auth0-python), unmodified: tokens,
client credentials, connection keys, the paginated client list and the tenant signing keys.

Usage: auth0_python_sdk.py DOMAIN PUBLIC_PEM PRIVATE_PEM
The caller trusts the emulator's CA through SSL_CERT_FILE / REQUESTS_CA_BUNDLE. Prints one JSON
object describing what happened; any exception exits non-zero.
"""
import json
import sys

from auth0.authentication import GetToken
from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError
from auth0.management.errors import NotFoundError, UnauthorizedError

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

# Clients, listed by the SDK's pager one client a page, and with a field selection.
pager = api.clients.list(per_page=1)
out["clients_paged"] = [c.client_id for c in pager]
out["clients_pages"] = sum(1 for _ in api.clients.list(per_page=1).iter_pages())
out["clients_names_only"] = [
    sorted(c.dict(exclude_none=True)) for c in api.clients.list(fields="client_id,name", include_fields=True)
]

# Tenant signing keys: list, read, rotate, refuse to revoke a non-previous key, revoke the previous.
keys = api.keys.signing.list()
out["signing_before"] = [{"kid": k.kid, "current": bool(k.current), "next": bool(k.next)} for k in keys]
current = next(k for k in keys if k.current)
out["signing_read"] = {"kid": api.keys.signing.get(current.kid).kid, "pkcs7": current.pkcs_7.startswith("-----BEGIN PKCS7-----")}
try:
    api.keys.signing.get("nosuchkeynosuchkey123")
    out["signing_missing"] = None
except NotFoundError as e:
    out["signing_missing"] = e.body["message"]
rotated = api.keys.signing.rotate()
out["signing_rotated_kid"] = rotated.kid
after = api.keys.signing.list()
out["signing_after"] = [{"kid": k.kid, "current": bool(k.current), "next": bool(k.next), "previous": bool(k.previous)} for k in after]
try:
    api.keys.signing.revoke(next(k.kid for k in after if k.current))
    out["signing_refused"] = None
except ApiError as e:  # the OAS documents no 400 for revoke, so the SDK raises its generic error
    out["signing_refused"] = e.status_code
previous = next(k for k in after if k.previous)
revoked = api.keys.signing.revoke(previous.kid)
out["signing_revoked"] = {"kid": revoked.kid, "cert": revoked.cert == previous.cert}
# The management token was signed by the key just revoked: it no longer works; a new one does.
try:
    api.keys.signing.list()
    out["old_token_after_revoke"] = "accepted"
except UnauthorizedError as e:
    out["old_token_after_revoke"] = e.status_code
fresh = ManagementClient(domain=domain, token=mgmt.client_credentials(f"https://{domain}/api/v2/")["access_token"])
out["signing_final"] = [{"kid": k.kid, "revoked": bool(k.revoked)} for k in fresh.keys.signing.list()]

print(json.dumps(out))
