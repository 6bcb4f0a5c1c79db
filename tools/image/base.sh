#!/usr/bin/env bash
# Makes the local test base image once per machine: Debian bookworm (debootstrap minbase, trimmed like Docker
# Hub's debian:bookworm-slim), imported into the machine's container storage as $AIAPP_BASE_IMAGE.
#
# Why: no registry can be pulled here, so the container test and `make image` build FROM this base instead of
# debian:bookworm-slim. It is the same distribution and the same apt python3 that production ships.
# The base carries this machine's CA bundle at a path of its own (/etc/ssl/machine-ca.pem, never rewritten by
# Debian's ca-certificates package) and PIP_CERT pointing at it, so pip inside a build trusts the TLS proxy.
# The production Dockerfile knows nothing of it.
#
# Idempotent: skips when the image exists and was made with the current CA bundle. CI clones afresh on the same
# machine, so only the first run pays (about 30-60 s). Prints the image reference as its last line.
set -euo pipefail

image="${AIAPP_BASE_IMAGE:-localhost/aiapp-base:bookworm}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
cache_dir="${AIAPP_BASE_CACHE:-${XDG_CACHE_HOME:-/var/cache}/aiapp-base}"
machine_ca=/etc/ssl/certs/ca-certificates.crt
die() { echo "base.sh: $*" >&2; exit 1; }

# Every buildah call names the storage driver, the same variable and default as tools/image/engine.py (overlay:
# see why there; vfs where overlayfs is missing): images are found only in the storage of the driver used.
driver="${AIAPP_STORAGE_DRIVER:-overlay}"
[[ $driver == overlay || $driver == vfs ]] || die "AIAPP_STORAGE_DRIVER=$driver: use overlay or vfs"
storage=(--storage-driver "$driver")

for tool in debootstrap buildah sha256sum tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install debootstrap buildah)"
done
[[ $(id -u) == 0 ]] || die "debootstrap and the machine's container storage need root (CI runs as root)"
[[ -s $machine_ca ]] || die "$machine_ca is missing: install ca-certificates on this machine"

ca_sha256=$(sha256sum "$machine_ca" | cut -d' ' -f1)
existing_ca=$(buildah "${storage[@]}" inspect --type image \
  --format '{{index .OCIv1.Config.Labels "io.aiapp.base.machine-ca-sha256"}}' "$image" 2>/dev/null || true)
if [[ $existing_ca == "$ca_sha256" ]]; then
  echo "base.sh: $image exists (machine CA unchanged); nothing to do" >&2
  echo "$image"
  exit 0
fi

mkdir -p "$cache_dir"
rootfs_tar="$cache_dir/$suite-minbase.tar"
if [[ ! -s $rootfs_tar ]]; then
  work=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  echo "base.sh: debootstrap --variant=minbase $suite from $mirror (once per machine)" >&2
  debootstrap --variant=minbase --arch=amd64 "$suite" "$rootfs" "$mirror" >&2

  # Same apt sources as the official image (updates and security too), in deb822 form.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

  # The "slim" treatment of debian:bookworm-slim (debuerreotype-slimify): packages installed later skip docs,
  # man pages and locales, so the layer sizes measured here match what production builds.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda}/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
fi

# Import: a scratch container, the root filesystem unpacked into it as root (owners, modes and setuid bits
# exactly as debootstrap made them), the machine's CA bundle beside it, then committed. buildah does what
# `podman import --change ...` would, on the same storage the builds use (podman keeps a database of its own
# that refuses a storage driver other than the one it was first used with).
container=$(buildah "${storage[@]}" from --name "aiapp-base-import-$$" scratch)
trap 'buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true; rm -rf ${work:+"$work"}' EXIT
mountpoint=$(buildah "${storage[@]}" mount "$container")
tar --numeric-owner --xattrs -xpf "$rootfs_tar" -C "$mountpoint"
# At a path of its own: Debian's ca-certificates package rewrites /etc/ssl/certs when a build installs it.
install -d -m 0755 "$mountpoint/etc/ssl"
install -m 0644 "$machine_ca" "$mountpoint/etc/ssl/machine-ca.pem"
buildah "${storage[@]}" config \
  --env PIP_CERT=/etc/ssl/machine-ca.pem \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd bash \
  --label "io.aiapp.base.machine-ca-sha256=$ca_sha256" \
  --label "org.opencontainers.image.description=local test base: Debian $suite (debootstrap minbase, slimmed)" \
  "$container"
buildah "${storage[@]}" rmi --force "$image" >/dev/null 2>&1 || true
buildah "${storage[@]}" commit --format docker --rm "$container" "$image" >&2

# The builds must find it without pulling (no registry is reachable): check it as they will look it up.
buildah "${storage[@]}" inspect --type image "$image" >/dev/null || die "$image is not in the build storage"
echo "base.sh: made $image" >&2
echo "$image"
