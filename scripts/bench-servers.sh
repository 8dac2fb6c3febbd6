# Sourced by the benchmark scripts that compare keyward with the bare tonic reference server:
# takes the release binaries from $KEYWARD_BIN_DIR (keyward, keyward-load, jwks-reference) or
# builds them, starts a fresh `keyward dev` and `jwks-reference` on loopback (stopped and their
# directory removed on exit), and gives keyward's two demo clients a key: demo-app RS256,
# demo-signer ES256. Sets bin, dir, server, ref_server, endpoint, ref_endpoint and token.

if [[ -n "${KEYWARD_BIN_DIR:-}" ]]; then
    bin="$KEYWARD_BIN_DIR"
    reference="$bin/jwks-reference"
else
    cargo build --release --locked -q -p keyward -p keyward-load
    cargo build --release --locked -q --example jwks-reference
    bin="${CARGO_TARGET_DIR:-target}/release"
    reference="$bin/examples/jwks-reference"
fi
dir="$(mktemp -d)"
"$bin/keyward" dev --dir "$dir/d" --listen 127.0.0.1:0 >"$dir/dev.log" 2>&1 &
server=$!
"$reference" --addr-file "$dir/ref-addr" &
ref_server=$!
trap 'kill "$server" "$ref_server" 2>/dev/null; wait "$server" "$ref_server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [[ -s "$dir/d/grpc-addr" && -s "$dir/ref-addr" ]] && break; sleep 0.1; done
endpoint="http://$(cat "$dir/d/grpc-addr")"
ref_endpoint="http://$(cat "$dir/ref-addr")"
token="$dir/d/token"
"$bin/keyward" rotate client --tenant dev --client demo-app --endpoint "$endpoint" --token-file "$token" >/dev/null
"$bin/keyward" rotate client --tenant dev --client demo-signer --alg ES256 --endpoint "$endpoint" \
    --token-file "$token" >/dev/null
