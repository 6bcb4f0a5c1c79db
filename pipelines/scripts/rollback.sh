#!/usr/bin/env bash
# The deployment job's last step, run only when an earlier one failed (templates/deploy.yml: condition failed()):
# pipelines/rollback.py gives the stack back what it served before this release's update (no build), checks it
# with the smoke test, posts what happened to the release webhook and fails the run with one message. Run by
# AzureCLI@2 as the deploy identity. Usage: rollback.sh <dev|prod> <work dir of deploy.sh, smoke.sh, watch.sh>
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: rollback.sh <dev|prod> <work dir>}"
work="${2:?usage: rollback.sh <dev|prod> <work dir>}"
stack_for "$environment" >/dev/null # a known environment
mkdir -p "$work"
unset_if_unmapped RELEASE_WEBHOOK_URL # secret; unset when the cicd stack has no aiapp:alertWebhookUrl

[ -x .venv/bin/python ] ||
  fail "the job failed before it installed the project (.venv), so before the update of $environment: nothing changed"
options=()
if [ -e "$work/update-started" ]; then
  # The stack may have changed: restoring it needs what deploy.sh had. Checked in a subshell first, so that a
  # session that cannot serve still gets its report out, saying why nothing was restored.
  if (azure_env && check_az_session && pulumi_login) >"$work/rollback-login.log" 2>&1; then
    azure_env
    pulumi_login >/dev/null
    SMOKE_CA_BUNDLE="$(staging_roots "$work/before.json" "$work")"
    export SMOKE_CA_BUNDLE
  else
    # its errors, as plain lines: the run's one error is the rollback's message
    sed 's/^##vso\[task\.logissue type=error\]//' "$work/rollback-login.log" >&2
    options=(--cannot-restore "this step could not sign in to Azure or the Pulumi backend (its log above)")
  fi
fi
exec .venv/bin/python -m pipelines.rollback "$environment" "$work" "${options[@]}"
