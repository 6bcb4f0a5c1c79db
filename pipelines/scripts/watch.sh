#!/usr/bin/env bash
# The SLO watch (pipelines/watch.py) of the stack deploy.sh updated and smoke.sh checked, as the deploy identity,
# whose `az` session gives it its tokens: the Azure Monitor workspace's Prometheus query API, and the app's API
# with sign-in on. Run by AzureCLI@2 (templates/deploy.yml).
# Usage: watch.sh <dev|prod> <work dir> <budget minutes> [watch.py options]; the budget is the step's own limit.
# Leaves watch.verdict, and watch.passed when the watch passed (pipelines/rollback.py reads both).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
usage="usage: watch.sh <dev|prod> <work dir> <budget minutes> [watch.py options]"
environment="${1:?$usage}"
work="${2:?$usage}"
budget="${3:?$usage}"
shift 3
stack_for "$environment" >/dev/null # a known environment
[ -s "$work/outputs.json" ] || fail "$work/outputs.json is missing: pulumi up of $environment did not finish"
ca=()
roots="$(staging_roots "$work/outputs.json" "$work")"
if [ -n "$roots" ]; then
  ca=(--ca-bundle "$roots")
fi

.venv/bin/python -m pipelines.watch --outputs "$work/outputs.json" --stack "$(cat "$work/stack")" \
  --budget-minutes "$budget" --verdict-file "$work/watch.verdict" "${ca[@]}" "$@"
touch "$work/watch.passed"
