#!/usr/bin/env bash
# Makes a throw-away SoftHSM2 token for trying keyward's PKCS#11 custody by hand: its own
# softhsm2.conf and token directory in a fresh temporary directory, one token initialised in it,
# then prints the environment and the `keyward dev` flags to use it.
#
#   scripts/softhsm-dev.sh [LABEL]          (default label: keyward-dev)
#   eval "$(scripts/softhsm-dev.sh | grep '^export ')"   (to take the environment over)
#
# Needs: softhsm2 (softhsm2-util and the module), optionally opensc (pkcs11-tool) to look inside.
# The token lives until you delete the directory it prints. The PINs are random, and printed:
# this is a development token, never one for real keys.
#
# Sourced (`source scripts/softhsm-dev.sh`), it only defines `softhsm_module` and
# `softhsm_token DIR LABEL`, which the benchmarks use to make their throw-away tokens.
set -euo pipefail

# Sets `module` to the SoftHSM2 module's path: Debian's, else wherever the package put it.
softhsm_module() {
    command -v softhsm2-util >/dev/null || {
        echo "softhsm2-util not found; install softhsm2 (apt-get install softhsm2)" >&2
        exit 69
    }
    module=/usr/lib/softhsm/libsofthsm2.so
    if [ ! -e "$module" ]; then
        module="$(dpkg -L softhsm2 2>/dev/null | grep '/libsofthsm2\.so$' | head -n1 || true)"
    fi
    if [ -z "$module" ] || [ ! -e "$module" ]; then
        echo "libsofthsm2.so not found (looked at /usr/lib/softhsm and in dpkg -L softhsm2)" >&2
        exit 69
    fi
}

# Makes a SoftHSM2 configuration with its own token directory in DIR and one token labelled
# LABEL with random PINs; exports SOFTHSM2_CONF and KEYWARD_PKCS11_PIN and sets `so_pin`.
softhsm_token() {
    local dir="$1" label="$2"
    mkdir "$dir/tokens"
    cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    so_pin="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    KEYWARD_PKCS11_PIN="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    export KEYWARD_PKCS11_PIN
    softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$KEYWARD_PKCS11_PIN" >/dev/null
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    return 0
fi


label="${1:-keyward-dev}"
if [ "${#label}" -gt 32 ]; then
    echo "usage: $0 [LABEL]  (a token label has at most 32 characters)" >&2
    exit 64
fi
softhsm_module
dir="$(mktemp -d "${TMPDIR:-/tmp}/keyward-softhsm.XXXXXX")"
softhsm_token "$dir" "$label"

cat <<OUT
# SoftHSM2 token "$label" in $dir (delete the directory when done; SO PIN $so_pin)
export SOFTHSM2_CONF=$dir/softhsm2.conf
export KEYWARD_PKCS11_PIN=$KEYWARD_PKCS11_PIN
# keyward dev --pkcs11-module $module --pkcs11-token $label --pkcs11-pin-env KEYWARD_PKCS11_PIN
# pkcs11-tool --module $module --token-label $label --login --pin "\$KEYWARD_PKCS11_PIN" --list-objects
OUT
