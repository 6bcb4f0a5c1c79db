#!/usr/bin/env bash
# checkov from its own virtualenv, with the project's settings (tools/checkov/config.yaml: frameworks, and
# every skipped check with its reason). checkov pins packaging<24 while pulumi needs packaging>=26, so it
# cannot live in the project's .venv.
#
#   tools/checkov/run.sh -f app/Dockerfile                 # any checkov arguments
#   .venv/bin/pytest tests/policy/test_checkov.py -q -s    # the whole scan: Dockerfile, manifests, pipelines
#
# CHECKOV_VENV overrides the virtualenv's location (default: <repo>/.venv-checkov).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CHECKOV_VENV:-$repo/.venv-checkov}"
checkov="$venv/bin/checkov"

if [[ ! -x "$checkov" ]]; then
    cat >&2 <<MSG
error: checkov is not installed at $checkov.
Create its virtualenv (make does this), from $repo:
    python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -r tools/checkov/requirements.txt
MSG
    exit 2
fi

exec "$checkov" --config-file "$repo/tools/checkov/config.yaml" "$@"
