#!/usr/bin/env bash
# The smoke test of the stack deploy.sh just updated, against what that update was given: dev, the model this
# run resolved (MODEL_VERSION); prod, the object dev served (<work>/promoted.json, which deploy.sh wrote); and in
# both, the commit the stack says its image carries (the output app_commit: the newest change to the image's own
# files, not necessarily this run's commit, since a change to docs or tests alone rebuilds nothing).
# Usage: smoke.sh <dev|prod> <work dir written by deploy.sh>; SMOKE_TIMEOUT (seconds, 120) bounds each of its two
# waits, so the test ends within the step's limit (templates/deploy.yml). Leaves smoke.verdict, and smoke.passed
# when the test passed (pipelines/rollback.py reads both).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: smoke.sh <dev|prod> <work dir>}"
work="${2:?usage: smoke.sh <dev|prod> <work dir>}"
[ -s "$work/outputs.json" ] || fail "$work/outputs.json is missing: pulumi up of $environment did not finish"
if [ -s "$work/promoted.json" ]; then
  expected=(--expect-promotion "$work/promoted.json")
else
  require_vars MODEL_VERSION
  expected=(--expect-model-version "$MODEL_VERSION")
fi
SMOKE_CA_BUNDLE="$(staging_roots "$work/outputs.json" "$work")"
export SMOKE_CA_BUNDLE

python "$(dirname "$0")/../smoke_test.py" \
  --outputs "$work/outputs.json" \
  "${expected[@]}" \
  --require-commit \
  --stack "$(cat "$work/stack")" \
  --timeout "${SMOKE_TIMEOUT:-120}" \
  --verdict-file "$work/smoke.verdict"
touch "$work/smoke.passed"
