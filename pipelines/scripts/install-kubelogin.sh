#!/usr/bin/env bash
# Install one pinned kubelogin (Azure/kubelogin), verified against the SHA-256 sum its release publishes, and
# put it on the job's PATH. The program's kubernetes provider runs it to get an Entra token for AKS from the
# Azure CLI login of the step (infra/cluster.py): no token is ever stored in the Pulumi state.
# Usage: install-kubelogin.sh <version> <install dir>
set -euo pipefail
version="${1:?usage: install-kubelogin.sh <version> <install dir>}"
dir="${2:?usage: install-kubelogin.sh <version> <install dir>}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "error: '$version' is not a kubelogin version (x.y.z)" >&2; exit 1; }

release="https://github.com/Azure/kubelogin/releases/download/v${version}"
archive="kubelogin-linux-amd64.zip"
download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
curl --fail --silent --show-error --location --retry 3 --proto '=https' \
  -o "$download/$archive" "$release/$archive" \
  -o "$download/$archive.sha256" "$release/$archive.sha256"
# The .sha256 file holds "<sum>  <file name>"; compare the sum only, whatever name the release wrote.
expected="$(awk 'NR == 1 { print $1 }' "$download/$archive.sha256")"
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || { echo "error: $archive.sha256 holds no SHA-256 sum" >&2; exit 1; }
(cd "$download" && echo "$expected  $archive" | sha256sum --check --strict -) ||
  { echo "error: $archive does not match the published SHA-256 sum" >&2; exit 1; }

mkdir -p "$dir"
python3 -m zipfile -e "$download/$archive" "$download/unpacked" # no unzip needed: python is set up first
install -m 0755 "$download/unpacked/bin/linux_amd64/kubelogin" "$dir/kubelogin"
"$dir/kubelogin" --version
echo "##vso[task.prependpath]$dir"
