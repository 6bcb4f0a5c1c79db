#!/usr/bin/env bash
# The smoke test of the stack deploy.sh just updated: the model this run resolved, from this run's commit.
# Usage: smoke.sh <dev|prod> <work dir written by deploy.sh>; SMOKE_TIMEOUT (seconds, 300) bounds each wait.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: smoke.sh <dev|prod> <work dir>}"
work="${2:?usage: smoke.sh <dev|prod> <work dir>}"
require_vars MODEL_VERSION BUILD_SOURCEVERSION
[ -s "$work/outputs.json" ] || fail "$work/outputs.json is missing: pulumi up of $environment did not finish"

exec python "$(dirname "$0")/../smoke_test.py" \
  --outputs "$work/outputs.json" \
  --expect-model-version "$MODEL_VERSION" \
  --expect-commit "$BUILD_SOURCEVERSION" \
  --stack "$(cat "$work/stack")" \
  --previous-model-version "$(cat "$work/previous-model-version")" \
  --timeout "${SMOKE_TIMEOUT:-300}"
