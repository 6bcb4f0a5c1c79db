#!/usr/bin/env bash
# `pulumi up --refresh` of one stack, the policy pack enforced, as the deploy identity. Run by AzureCLI@2
# (templates/azure.yml, from templates/deploy.yml). Usage: deploy.sh <dev|prod> <work dir>
#   dev builds and pushes the image with the model version this run resolved (MODEL_VERSION);
#   prod builds nothing: it runs exactly the object dev served once dev passed its smoke test and watch
#   (PROMOTED_IMAGE: dev's `promotion` output, which release.yml hands on), given as aiapp:promotedImage.
# Before the update it records what the stack serves, its `promotion` output: the rollback target of
# rollback.sh, the job's last step, which runs when this or a later step fails. A stack's first release has none,
# and says so. Leaves in the work dir: stack, before.json (the outputs before the update), previous.json (the
# rollback target, when there is one), promoted.json (prod: the object it was given), drift.json,
# update-started (from here on the stack may change), up.log, outputs.json once the update succeeded, and
# deploy.passed at the end. Dev sets the output variable azure.PROMOTION, its object, for prod.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: deploy.sh <dev|prod> <work dir>}"
work="${2:?usage: deploy.sh <dev|prod> <work dir>}"
stack="$(stack_for "$environment")"
require_vars MODEL_VERSION_CONFIG_KEY PROMOTED_IMAGE_CONFIG_KEY BUILD_BUILDNUMBER BUILD_SOURCEVERSION
mkdir -p "$work"

# The release owns aiapp:modelVersion and aiapp:promotedImage, which the program refuses side by side. `pulumi
# up --config` writes the key it is given into the stack's file (pulumi/pulumi, pkg/cmd/pulumi/operations/up.go:
# "Save any config values passed via flags", parseAndSaveConfigArray), so each update first removes the other
# one (`pulumi config rm`; removing a key that is not set is no error: sdk/go/common/resource/config/map.go,
# Map.Remove). The stack's file is this checkout's; the next run checks out a clean one.
case "$environment" in
  dev)
    require_vars MODEL_VERSION
    [[ "$MODEL_VERSION" =~ ^[1-9][0-9]*$ ]] ||
      fail "MODEL_VERSION '$MODEL_VERSION' is not a published version number (the resolve stage sets it)"
    remove="$PROMOTED_IMAGE_CONFIG_KEY"
    config="$MODEL_VERSION_CONFIG_KEY=$MODEL_VERSION"
    what="model $MODEL_VERSION"
    ;;
  prod)
    [ -n "${PROMOTED_IMAGE:-}" ] ||
      fail "PROMOTED_IMAGE is not set: prod never builds, it runs the object dev served (dev's promotion output, which release.yml hands on from the dev stage)"
    printf '%s' "$PROMOTED_IMAGE" |
      .venv/bin/python -m pipelines.promotion check --what "PROMOTED_IMAGE (dev's promotion output)" \
        >"$work/promoted.json"
    remove="$MODEL_VERSION_CONFIG_KEY"
    config="$PROMOTED_IMAGE_CONFIG_KEY=$(cat "$work/promoted.json")"
    what="dev's $(.venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["image"])' <"$work/promoted.json")"
    ;;
esac
azure_env
check_az_session
pulumi_login

# The program logs Docker in to ACR for the push (infra/acr_login.py). That login goes to a Docker config of
# this step's own, deleted when it ends: a self-hosted agent keeps no push credential for a later job.
DOCKER_CONFIG="$(mktemp -d)"
export DOCKER_CONFIG
trap 'rm -rf "$DOCKER_CONFIG"' EXIT

printf '%s' "$stack" >"$work/stack"
# What the stack serves now: the rollback target if this release goes bad. Without its outputs no target is
# known, and the stack is not touched.
pulumi stack output --json --stack "$stack" >"$work/before.json" ||
  fail "cannot read stack $stack's outputs (pulumi stack output): what it serves now, the rollback target, is unknown, so it is not updated"
.venv/bin/python -m pipelines.promotion served "$stack" "$work/before.json" >"$work/previous.json"
if [ -s "$work/previous.json" ]; then
  echo "stack $stack serves $(cat "$work/previous.json"): the rollback target if this release fails"
else
  rm "$work/previous.json"
  echo "##vso[task.logissue type=warning]stack $stack serves no promotion object yet (its first release): if this release fails, there is nothing to roll back to"
fi

# What was changed by hand (in the portal, with kubectl) since the last update: a preview of a refresh reads
# every resource and writes nothing. Reported, never fatal: `pulumi up --refresh` below reads the same again.
if pulumi refresh --preview-only --json --non-interactive --stack "$stack" >"$work/drift.json"; then
  python "$(dirname "$0")/../drift_report.py" --stack "$stack" "$work/drift.json"
else
  echo "##vso[task.logissue type=warning]the refresh preview of $stack failed: drift is not reported; pulumi up --refresh still reads every resource"
fi

pulumi config rm "$remove" --stack "$stack"
touch "$work/update-started"
# --refresh: the update starts from what is in Azure and the cluster, not from the last state, so drift is
# put back to what the program declares instead of being silently kept.
set +e
pulumi up --refresh --non-interactive --yes --diff --color never --policy-pack policy --stack "$stack" \
  --config "$config" --message "release $BUILD_BUILDNUMBER: $what, commit $BUILD_SOURCEVERSION" 2>&1 |
  tee "$work/up.log"
status="${PIPESTATUS[0]}"
set -e
if [ "$status" -ne 0 ]; then
  # A lock left by a cancelled run: which stack, since when, and the commands that clear it.
  python "$(dirname "$0")/../stack_lock.py" --stack "$stack" --backend "$PULUMI_BACKEND_URL" --log "$work/up.log"
  exit "$status"
fi
pulumi stack output --json --stack "$stack" >"$work/outputs.json"
if [ "$environment" = dev ]; then
  promotion="$(.venv/bin/python -m pipelines.promotion served "$stack" "$work/outputs.json")"
  [ -n "$promotion" ] || fail "stack $stack exports no promotion output after its update: prod cannot be given what dev runs"
  # Read by the prod stage (release.yml): stageDependencies.dev.deploy_dev.outputs['deploy_dev.azure.PROMOTION'].
  echo "##vso[task.setvariable variable=PROMOTION;isOutput=true]$promotion"
fi
touch "$work/deploy.passed"
