#!/usr/bin/env bash
# `pulumi preview --diff` of one stack with the policy pack enforced, as the read-only preview identity.
# Run by AzureCLI@2 (templates/azure.yml). Usage: preview.sh <dev|prod> <output file>
# The preview's text goes to the output file and its exit status to <output file>.status, for the PR comment.
# Prod runs the object dev served, never a build of its own (release.yml): its preview is given the object it
# serves now (its `promotion` output) as aiapp:promotedImage, as the release does, so it shows what prod runs;
# before prod's first release there is none, and it previews prod as its stack file configures it, and says so.
# Either way the output file (the PR comment) starts with a line that says which.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
environment="${1:?usage: preview.sh <dev|prod> <output file>}"
out="${2:?usage: preview.sh <dev|prod> <output file>}"
stack="$(stack_for "$environment")"
azure_env
check_az_session # the preview identity's own session: it reads the cluster as itself, with read-only rights
pulumi_login

config=()
: >"$out"
if [ "$environment" = prod ]; then
  require_vars MODEL_VERSION_CONFIG_KEY PROMOTED_IMAGE_CONFIG_KEY
  outputs="$(mktemp)"
  pulumi stack output --json --stack "$stack" >"$outputs" ||
    fail "cannot read stack $stack's outputs (pulumi stack output): what prod runs now is unknown"
  promoted="$(.venv/bin/python -m pipelines.promotion served "$stack" "$outputs")"
  if [ -n "$promoted" ]; then
    echo "Previewed with what $stack runs now, its promotion output, as aiapp:promotedImage: $promoted" |
      tee "$out"
    # `--config` writes into this checkout's stack file (pulumi/pulumi, pkg/cmd/pulumi/operations/preview.go:
    # "Save any config values passed via flags"), where the program refuses the two keys side by side: remove
    # the other first, as the release does (deploy.sh).
    pulumi config rm "$MODEL_VERSION_CONFIG_KEY" --stack "$stack"
    config=(--config "$PROMOTED_IMAGE_CONFIG_KEY=$promoted")
  else
    note="$stack has no promotion output yet (no release has given it one): previewed as its stack file configures it, a build, not the object the release will give it"
    echo "##vso[task.logissue type=warning]$note"
    echo "$note" >"$out"
  fi
fi

set +e
pulumi preview --non-interactive --diff --color never --policy-pack policy --stack "$stack" "${config[@]}" 2>&1 |
  tee -a "$out"
status="${PIPESTATUS[0]}"
set -e
echo "$status" >"$out.status"
exit "$status"
