#!/usr/bin/env bash
# `pulumi preview --diff` of one stack with the policy pack enforced, as the read-only preview identity.
# Run by AzureCLI@2 (templates/azure.yml). Usage: preview.sh <dev|prod> <output file>
# The preview's text goes to the output file and its exit status to <output file>.status, for the PR comment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: preview.sh <dev|prod> <output file>}"
out="${2:?usage: preview.sh <dev|prod> <output file>}"
stack="$(stack_for "$environment")"
azure_env
check_az_session # the preview identity's own session: it reads the cluster as itself, with read-only rights
pulumi_login

set +e
pulumi preview --non-interactive --diff --color never --policy-pack policy --stack "$stack" 2>&1 | tee "$out"
status="${PIPESTATUS[0]}"
set -e
echo "$status" >"$out.status"
exit "$status"
