#!/usr/bin/env bash
# Install one pinned Pulumi CLI, verified against the SHA-256 sums the Pulumi release publishes, and put it on
# the job's PATH. Usage: install-pulumi.sh <version> <install dir>
set -euo pipefail
version="${1:?usage: install-pulumi.sh <version> <install dir>}"
dir="${2:?usage: install-pulumi.sh <version> <install dir>}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "error: '$version' is not a Pulumi version (x.y.z)" >&2; exit 1; }

release="https://github.com/pulumi/pulumi/releases/download/v${version}"
archive="pulumi-v${version}-linux-x64.tar.gz"
download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
curl --fail --silent --show-error --location --retry 3 --proto '=https' \
  -o "$download/$archive" "$release/$archive" \
  -o "$download/checksums.txt" "$release/pulumi-${version}-checksums.txt"
(cd "$download" && grep " ${archive}\$" checksums.txt | sha256sum --check --strict -) ||
  { echo "error: $archive does not match the published SHA-256 sum" >&2; exit 1; }

mkdir -p "$dir"
tar -xzf "$download/$archive" -C "$dir" --strip-components=1 # the archive holds pulumi/<binaries>
"$dir/pulumi" version
echo "##vso[task.prependpath]$dir"
