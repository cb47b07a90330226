#!/usr/bin/env bash
# Build (or reuse) a stand-in for the Dockerfile's base image, node:20-bookworm-slim, without pulling
# it from a registry: Debian bookworm (debootstrap --variant=minbase) with this machine's node and npm
# in /usr/local, its CA certificates (NODE_EXTRA_CA_CERTS and npm_config_cafile point at them, so npm
# inside reaches the registry through whatever this machine trusts) and a user node, uid/gid 1000, as
# in the real image. Used by test/e2e/container.test.ts.
#
# Two caches, each checked on its own, so either may be missing:
#   ${SYSRQ_BRIDGE_NODE_BASE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/node-base}/rootfs.tar
#       the root file system, outside the repository (as the QEMU guest is), with rootfs.stamp
#   the image localhost/node:20-bookworm-slim in podman's storage, labelled with the same stamp
# The stamp hashes what the image is built from: this recipe, the suite and mirror, the node binary,
# npm's package.json and the CA bundle. Same stamp: nothing is rebuilt. Image gone: it is imported
# from rootfs.tar (seconds). Both gone or stale: debootstrap (~2 min, network) and import.
#
# Needs root, podman, debootstrap (and debian-archive-keyring), tar, sha256sum.
# On success prints the image's name on stdout; progress goes to stderr.
set -euo pipefail

RECIPE_VERSION=1
SUITE=bookworm
MIRROR="${SYSRQ_BRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
IMAGE=localhost/node:20-bookworm-slim
LABEL=org.sysrq-bridge.base-stamp
BASE_DIR="${SYSRQ_BRIDGE_NODE_BASE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/node-base}"
CA_BUNDLE="${SYSRQ_BRIDGE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# What podman needs on this kind of host: crun refuses hybrid (v1) cgroups, and no systemd to ask.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)

log() { printf 'build-node-base: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "needs root (debootstrap, and podman's rootful storage)"
for tool in podman debootstrap tar sha256sum node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found"
done
NODE_BIN="$(readlink -f "$(command -v node)")"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" # .../npm/bin/npm-cli.js
[[ -f "$NPM_DIR/package.json" ]] || die "npm's package directory not found (from $(command -v npm))"
[[ -s "$CA_BUNDLE" ]] || die "no CA bundle at $CA_BUNDLE"
NODE_VERSION="$("$NODE_BIN" --version)"

STAMP="$(
  {
    printf 'recipe=%s suite=%s mirror=%s\n' "$RECIPE_VERSION" "$SUITE" "$MIRROR"
    sha256sum <"$NODE_BIN"
    sha256sum <"$NPM_DIR/package.json"
    sha256sum <"$CA_BUNDLE"
    # This script's own text: a change to the recipe below rebuilds.
    sha256sum <"${BASH_SOURCE[0]}"
  } | sha256sum | cut -d' ' -f1
)"

image_stamp() {
  "${PODMAN[@]}" image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true
}
if [[ "$(image_stamp)" == "$STAMP" ]]; then
  printf '%s\n' "$IMAGE"
  exit 0
fi

ROOTFS_TAR="$BASE_DIR/rootfs.tar"
STAMP_FILE="$BASE_DIR/rootfs.stamp"
if [[ ! -s "$ROOTFS_TAR" || ! -f "$STAMP_FILE" || "$(cat "$STAMP_FILE")" != "$STAMP" ]]; then
  mkdir -p "$BASE_DIR"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/sysrq-bridge-node-base.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  ROOT="$WORK/root"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (about 2 min)"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    {
      tail -n 30 "$WORK/debootstrap.log" >&2
      die "debootstrap failed"
    }
  # As the official slim image: no package lists or downloaded .debs.
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
  install -D -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
  mkdir -p "$ROOT/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  install -D -m 0644 "$CA_BUNDLE" "$ROOT/etc/ssl/certs/ca-certificates.crt"
  chroot "$ROOT" groupadd --gid 1000 node
  chroot "$ROOT" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$ROOT" node --version >/dev/null || die "node does not run in the new root"
  tar --numeric-owner -C "$ROOT" -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  printf '%s\n' "$STAMP" >"$STAMP_FILE"
  log "root file system: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
fi

log "importing $ROOTFS_TAR as $IMAGE"
stale="$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
"${PODMAN[@]}" import --quiet \
  --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
  --change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV npm_config_cafile=/etc/ssl/certs/ca-certificates.crt" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "LABEL $LABEL=$STAMP" \
  --change 'CMD ["node"]' \
  "$ROOTFS_TAR" "$IMAGE" >/dev/null
[[ "$(image_stamp)" == "$STAMP" ]] || die "imported $IMAGE, but its label does not carry the stamp"
# The image it replaces, now untagged (kept if a container still uses it).
[[ -z "$stale" ]] || "${PODMAN[@]}" rmi "$stale" >/dev/null 2>&1 || true
printf '%s\n' "$IMAGE"
