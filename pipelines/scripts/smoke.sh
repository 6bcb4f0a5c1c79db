#!/usr/bin/env bash
# The smoke test of the stack deploy.sh just updated: the model this run resolved, and the commit the stack
# says its image carries (the output app_commit: the newest change to the image's own files, not necessarily
# this run's commit, since a change to docs or tests alone rebuilds nothing); /version must report both.
# Usage: smoke.sh <dev|prod> <work dir written by deploy.sh>; SMOKE_TIMEOUT (seconds, 300) bounds each wait.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: smoke.sh <dev|prod> <work dir>}"
work="${2:?usage: smoke.sh <dev|prod> <work dir>}"
require_vars MODEL_VERSION
[ -s "$work/outputs.json" ] || fail "$work/outputs.json is missing: pulumi up of $environment did not finish"

# Dev's certificate is from Let's Encrypt's staging CA (output acme_server: staging), which no system trusts:
# fetch its roots over HTTPS from letsencrypt.org (publicly trusted) and trust them for this test only.
acme_server="$(python -c 'import json,sys; print(json.load(open(sys.argv[1])).get("acme_server") or "")' \
  "$work/outputs.json")"
if [ "$acme_server" = staging ]; then
  for root in letsencrypt-stg-root-x1 letsencrypt-stg-root-x2; do
    curl --fail --silent --show-error --location --retry 3 --proto '=https' \
      "https://letsencrypt.org/certs/staging/$root.pem"
  done >"$work/staging-roots.pem" || fail "cannot fetch Let's Encrypt's staging roots"
  export SMOKE_CA_BUNDLE="$work/staging-roots.pem"
fi

exec python "$(dirname "$0")/../smoke_test.py" \
  --outputs "$work/outputs.json" \
  --expect-model-version "$MODEL_VERSION" \
  --require-commit \
  --stack "$(cat "$work/stack")" \
  --timeout "${SMOKE_TIMEOUT:-300}"
