#!/usr/bin/env bash
# `pulumi up --refresh` of one stack with the model version this run resolved, the policy pack enforced, as the
# deploy identity. Run by AzureCLI@2 (templates/azure.yml). Usage: deploy.sh <dev|prod> <work dir>
# Leaves in the work dir what the smoke test reads: outputs.json, stack, previous-model-version; and what the
# step did: drift.json (what differed from the state before the update), up.log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: deploy.sh <dev|prod> <work dir>}"
work="${2:?usage: deploy.sh <dev|prod> <work dir>}"
require_vars MODEL_VERSION MODEL_VERSION_CONFIG_KEY BUILD_BUILDNUMBER BUILD_SOURCEVERSION
[[ "$MODEL_VERSION" =~ ^[1-9][0-9]*$ ]] ||
  fail "MODEL_VERSION '$MODEL_VERSION' is not a published version number (the resolve stage sets it)"
stack="$(stack_for "$environment")"
azure_env
check_az_session
pulumi_login

# The program logs Docker in to ACR for the push (infra/acr_login.py). That login goes to a Docker config of
# this step's own, deleted when it ends: a self-hosted agent keeps no push credential for a later job.
DOCKER_CONFIG="$(mktemp -d)"
export DOCKER_CONFIG
trap 'rm -rf "$DOCKER_CONFIG"' EXIT

mkdir -p "$work"
printf '%s' "$stack" >"$work/stack"
# What the stack serves before this update, for the rollback hint (nothing on its first update).
pulumi stack output model_version --stack "$stack" >"$work/previous-model-version" 2>/dev/null ||
  : >"$work/previous-model-version"

# What was changed by hand (in the portal, with kubectl) since the last update: a preview of a refresh reads
# every resource and writes nothing. Reported, never fatal: `pulumi up --refresh` below reads the same again.
if pulumi refresh --preview-only --json --non-interactive --stack "$stack" >"$work/drift.json"; then
  python "$(dirname "$0")/../drift_report.py" --stack "$stack" "$work/drift.json"
else
  echo "##vso[task.logissue type=warning]the refresh preview of $stack failed: drift is not reported; pulumi up --refresh still reads every resource"
fi

# --refresh: the update starts from what is in Azure and the cluster, not from the last state, so drift is
# put back to what the program declares instead of being silently kept.
set +e
pulumi up --refresh --non-interactive --yes --diff --color never --policy-pack policy --stack "$stack" \
  --config "$MODEL_VERSION_CONFIG_KEY=$MODEL_VERSION" \
  --message "release $BUILD_BUILDNUMBER: model $MODEL_VERSION, commit $BUILD_SOURCEVERSION" 2>&1 |
  tee "$work/up.log"
status="${PIPESTATUS[0]}"
set -e
if [ "$status" -ne 0 ]; then
  # A lock left by a cancelled run: which stack, since when, and the commands that clear it.
  python "$(dirname "$0")/../stack_lock.py" --stack "$stack" --backend "$PULUMI_BACKEND_URL" --log "$work/up.log"
  exit "$status"
fi
pulumi stack output --json --stack "$stack" >"$work/outputs.json"
