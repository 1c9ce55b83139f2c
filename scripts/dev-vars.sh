#!/bin/sh
# Writes .dev.vars (local secrets, never committed) once: a signing key generated on this machine
# and the local-development sign-in. An existing file is kept, so tokens survive restarts.
set -eu
cd "$(dirname "$0")/.."
[ -f .dev.vars ] && exit 0
key=$(node -e "process.stdout.write(require('crypto').randomBytes(32).toString('base64url'))")
umask 077
printf 'SIGNING_KEY=%s\nDEV_SIGN_IN=on\n' "$key" > .dev.vars
echo "wrote .dev.vars (new signing key, DEV_SIGN_IN=on)"
