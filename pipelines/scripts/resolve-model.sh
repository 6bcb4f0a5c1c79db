#!/usr/bin/env bash
# Resolve, once per release, the model version both stacks deploy. Run by AzureCLI@2 (templates/azure.yml) as
# the deploy identity, which may read the model store. Sets the output variable azure.MODEL_VERSION.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_vars MODEL_STORE MODEL_NAME
exec .venv/bin/python "$(dirname "$0")/../resolve_model.py" \
  --store "$MODEL_STORE" --name "$MODEL_NAME" --version "${REQUESTED_MODEL_VERSION:-latest}"
