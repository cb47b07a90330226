#!/usr/bin/env bash
# Build (or reuse) the tiny QEMU guest used as the real-kernel test target.
#
# Output, cached OUTSIDE the repository:
#   ${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}/vmlinuz
#   ${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}/initramfs.cpio.gz
#
# Requirements (Debian 12 / bookworm packages):
#   busybox-static   (/bin/busybox, statically linked, with cttyhack + setsid)
#   cpio, gzip, dpkg, apt (apt-cache / apt-get download), coreutils
#   qemu-system-x86  (only to run the guest, not to build it)
# Network access to the Debian apt mirror is needed the first time (the
# kernel .deb is downloaded with `apt-get download`, no root needed for that).
# If the apt lists are missing/stale, `apt-get update` is run, which needs root
# (or passwordless sudo).
#
# Idempotent: when vmlinuz + initramfs.cpio.gz exist and the stamp (hash of the
# /init script + recipe version + busybox binary) matches, it only prints the
# two paths and exits.
#
# On success, prints two lines on stdout:
#   <dir>/vmlinuz
#   <dir>/initramfs.cpio.gz
# All progress/diagnostics go to stderr.
set -euo pipefail

RECIPE_VERSION=1
GUEST_DIR="${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}"
BUSYBOX="${SYSRQ_BRIDGE_BUSYBOX:-/bin/busybox}"
META_PKG="linux-image-cloud-amd64"
READY_MARKER="SYSRQ-BRIDGE-GUEST-READY"

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The guest's /init. Kept in a variable so its hash is part of the stamp.
# Notes:
#  * The initramfs contains no /dev/console node (creating one needs mknod /
#    root), so the kernel starts /init with no stdio. We mount devtmpfs first
#    and then re-open stdio on /dev/console (== ttyS0 with console=ttyS0).
#  * `setsid cttyhack sh` makes the shell a session leader whose controlling
#    tty is the real console device (/dev/ttyS0), so line editing, ^C and
#    job control work. The loop makes sure init (PID 1) never exits.
read -r -d '' INIT_SCRIPT <<EOF || true
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin /root
/bin/busybox --install -s /bin
/bin/busybox --install -s /sbin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts 2>/dev/null || true
exec </dev/console >/dev/console 2>&1
hostname sysrq-guest
echo
echo "${READY_MARKER}"
while :; do
  setsid cttyhack sh -l
  echo "init: shell exited (\$?), respawning"
  sleep 1
done
EOF

[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
for tool in cpio gzip dpkg apt-get apt-cache sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found"
done

STAMP="$(
  {
    printf 'recipe=%s\n' "$RECIPE_VERSION"
    printf '%s\n' "$INIT_SCRIPT"
    sha256sum <"$BUSYBOX"
  } | sha256sum | cut -d' ' -f1
)"

KERNEL="$GUEST_DIR/vmlinuz"
INITRD="$GUEST_DIR/initramfs.cpio.gz"
STAMP_FILE="$GUEST_DIR/initramfs.stamp"

if [[ -s "$KERNEL" && -s "$INITRD" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  printf '%s\n%s\n' "$KERNEL" "$INITRD"
  exit 0
fi

mkdir -p "$GUEST_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sysrq-bridge-guest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root for: $*"
  fi
}

apt_updated=0
apt_update_once() {
  if [[ "$apt_updated" -eq 0 ]]; then
    log "running apt-get update"
    as_root apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

# Exact kernel package name, e.g. linux-image-6.1.0-56-cloud-amd64.
kernel_pkg_name() {
  apt-cache depends "$META_PKG" 2>/dev/null |
    sed -n -E 's/^[[:space:]]*Depends:[[:space:]]*(linux-image-6\.[^[:space:]]*-cloud-amd64)[[:space:]]*$/\1/p' |
    head -n1
}

# ---------------------------------------------------------------- kernel ----
if [[ ! -s "$KERNEL" ]]; then
  PKG="$(kernel_pkg_name || true)"
  if [[ -z "$PKG" ]]; then
    apt_update_once
    PKG="$(kernel_pkg_name || true)"
  fi
  [[ -n "$PKG" ]] || die "could not resolve kernel package from 'apt-cache depends $META_PKG'"
  log "kernel package: $PKG"

  mkdir -p "$WORK/deb"
  # apt-get download as root warns that the _apt user cannot write to the
  # private temp dir ("Download is performed unsandboxed as root"); harmless.
  if ! (cd "$WORK/deb" && apt-get download -q "$PKG" >&2 2>"$WORK/dl.err"); then
    cat "$WORK/dl.err" >&2 || true
    apt_update_once
    PKG="$(kernel_pkg_name || true)"
    [[ -n "$PKG" ]] || die "could not resolve kernel package after apt-get update"
    log "kernel package (after update): $PKG"
    (cd "$WORK/deb" && apt-get download -q "$PKG" >&2) || die "apt-get download $PKG failed"
  fi
  DEB="$(find "$WORK/deb" -maxdepth 1 -name "${PKG}_*.deb" -print -quit)"
  [[ -n "$DEB" ]] || die "downloaded .deb for $PKG not found"
  mkdir -p "$WORK/kpkg"
  dpkg -x "$DEB" "$WORK/kpkg"
  VMLINUZ="$(find "$WORK/kpkg/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit)"
  [[ -n "$VMLINUZ" ]] || die "no boot/vmlinuz-* in $DEB"
  cp "$VMLINUZ" "$KERNEL.tmp"
  chmod 0644 "$KERNEL.tmp"
  printf '%s\n' "$PKG" >"$GUEST_DIR/kernel-package"
  mv -f "$KERNEL.tmp" "$KERNEL"
  log "kernel: $(basename "$VMLINUZ") -> $KERNEL"
fi

# ------------------------------------------------------------- initramfs ----
ROOT="$WORK/root"
mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/tmp" \
  "$ROOT/root" "$ROOT/etc" "$ROOT/usr/bin" "$ROOT/usr/sbin"
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
printf '%s\n' "$INIT_SCRIPT" >"$ROOT/init"
chmod 0755 "$ROOT/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
# Prompt "/ # " is busybox ash's default for root; set it explicitly.
printf 'export PS1='"'"'\\w # '"'"'\n' >"$ROOT/etc/profile"

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --quiet | gzip -9 -n) >"$INITRD.tmp"
mv -f "$INITRD.tmp" "$INITRD"
printf '%s\n' "$STAMP" >"$STAMP_FILE"
log "initramfs: $INITRD ($(wc -c <"$INITRD") bytes)"

printf '%s\n%s\n' "$KERNEL" "$INITRD"
