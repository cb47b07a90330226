#!/usr/bin/env bash
# Build (or reuse) the tiny QEMU guest used as the real-kernel test target.
#
# Output, cached OUTSIDE the repository, in
# ${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}/:
#   vmlinuz              the Debian cloud kernel (package chosen by guest-kernel.sh)
#   initramfs.cpio.gz    busybox, plus in /lib/modules/<version>/: loop.ko and pvpanic.ko with
#                        pvpanic-mmio.ko / pvpanic-pci.ko (from the same kernel package, with the
#                        modules they depend on, and a modules.dep for modprobe) and extra/spin.ko,
#                        the test module from ./spin-module/ (see below)
#   modules.txt          what the initramfs carries: `NAME PATH-IN-GUEST` per module, or
#                        `spin - REASON` when the test module could not be built
#
# spin.ko is built here with gcc + make against /usr/src/linux-headers-<the kernel's exact ABI>
# (Debian's package; `scripts/ensure-system-packages.sh test` installs the three). Without them the
# guest is built without it and modules.txt says why; the suites that need it skip (fail under CI).
#
# Requirements (Debian 12 / bookworm packages):
#   busybox-static   (/bin/busybox, statically linked, with cttyhack + setsid; also insmod, modprobe,
#                    losetup, mke2fs, mount and fsfreeze, which the lockup tests run in the guest)
#   cpio, gzip, dpkg, apt (apt-cache / apt-get download), coreutils
#   qemu-system-x86  (only to run the guest, not to build it)
# Network access to the Debian apt mirror is needed the first time (the
# kernel .deb is downloaded with `apt-get download`, no root needed for that).
# If the apt lists are missing/stale, `apt-get update` is run, which needs root
# (or passwordless sudo).
#
# Idempotent: when vmlinuz + initramfs.cpio.gz exist and the stamp (hash of the
# /init script + recipe version + busybox binary + kernel package + the test
# module's source, or why it is left out) matches, it only prints the two paths
# and exits.
#
# On success, prints two lines on stdout:
#   <dir>/vmlinuz
#   <dir>/initramfs.cpio.gz
# All progress/diagnostics go to stderr.
set -euo pipefail

RECIPE_VERSION=2
GUEST_DIR="${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}"
BUSYBOX="${SYSRQ_BRIDGE_BUSYBOX:-/bin/busybox}"
KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SPIN_SRC="$KIT_DIR/spin-module"
# Kernel modules taken from the kernel package (paths under lib/modules/<version>/kernel/).
KMODS=(drivers/block/loop.ko drivers/misc/pvpanic/pvpanic.ko drivers/misc/pvpanic/pvpanic-mmio.ko
  drivers/misc/pvpanic/pvpanic-pci.ko)
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
# shellcheck source=guest-kernel.sh
. "$KIT_DIR/guest-kernel.sh"

KERNEL="$GUEST_DIR/vmlinuz"
INITRD="$GUEST_DIR/initramfs.cpio.gz"
STAMP_FILE="$GUEST_DIR/initramfs.stamp"
MODULES_TXT="$GUEST_DIR/modules.txt"
KMOD_CACHE="$GUEST_DIR/kmods" # the KMODS (and what they depend on) of the cached kernel package

mkdir -p "$GUEST_DIR"
# Test files run in parallel (and helpers share one cache): one build at a time, others wait for it.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$GUEST_DIR/.build.lock"
  flock 9
fi
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

PKG="$(guest_kernel_package "$GUEST_DIR")"
if [[ -z "$PKG" ]]; then
  apt_update_once
  PKG="$(guest_kernel_package "$GUEST_DIR")"
fi
[[ -n "$PKG" ]] || die "could not resolve the kernel package from 'apt-cache depends $GUEST_KERNEL_META'"
KVER="${PKG#linux-image-}"

kmods_cached() {
  [[ -s "$KERNEL" && -f "$GUEST_DIR/kernel-package" && "$(cat "$GUEST_DIR/kernel-package")" == "$PKG" ]] || return 1
  local m
  for m in "${KMODS[@]}"; do [[ -s "$KMOD_CACHE/lib/modules/$KVER/kernel/$m" ]] || return 1; done
}

# A module's `depends=` from its .modinfo section (the .deb ships no modules.dep: depmod makes it at
# install time), as paths of the modules it names.
module_deps() {
  local tree="$1" ko="$2" dep
  for dep in $(tr '\0' '\n' <"$tree/$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
    (cd "$tree" && find . -name "${dep}.ko" -o -name "${dep//_/-}.ko") | sed 's|^\./||' | head -n1
  done
}

# ---------------------------------------------------------------- kernel ----
if ! kmods_cached; then
  log "kernel package: $PKG"
  mkdir -p "$WORK/deb"
  # apt-get download as root warns that the _apt user cannot write to the
  # private temp dir ("Download is performed unsandboxed as root"); harmless.
  if ! (cd "$WORK/deb" && apt-get download -q "$PKG" >&2 2>"$WORK/dl.err"); then
    cat "$WORK/dl.err" >&2 || true
    apt_update_once
    PKG="$(guest_kernel_package "$GUEST_DIR")"
    [[ -n "$PKG" ]] || die "could not resolve kernel package after apt-get update"
    KVER="${PKG#linux-image-}"
    log "kernel package (after update): $PKG"
    (cd "$WORK/deb" && apt-get download -q "$PKG" >&2) || die "apt-get download $PKG failed"
  fi
  DEB="$(find "$WORK/deb" -maxdepth 1 -name "${PKG}_*.deb" -print -quit)"
  [[ -n "$DEB" ]] || die "downloaded .deb for $PKG not found"
  mkdir -p "$WORK/kpkg"
  dpkg -x "$DEB" "$WORK/kpkg"
  VMLINUZ="$WORK/kpkg/boot/vmlinuz-$KVER"
  [[ -s "$VMLINUZ" ]] || die "no boot/vmlinuz-$KVER in $DEB"
  TREE="$WORK/kpkg/lib/modules/$KVER/kernel"
  # The wanted modules and, transitively, those they depend on.
  want=("${KMODS[@]}")
  declare -A have=()
  while [[ ${#want[@]} -gt 0 ]]; do
    m="${want[0]}"
    want=("${want[@]:1}")
    [[ -n "${have[$m]:-}" ]] && continue
    [[ -s "$TREE/$m" ]] || die "$PKG has no $m"
    have[$m]=1
    mkdir -p "$WORK/kmods/lib/modules/$KVER/kernel/$(dirname "$m")"
    cp "$TREE/$m" "$WORK/kmods/lib/modules/$KVER/kernel/$m"
    mapfile -t deps < <(module_deps "$TREE" "$m")
    want+=("${deps[@]}")
  done
  rm -rf "$KMOD_CACHE"
  mv "$WORK/kmods" "$KMOD_CACHE"
  cp "$VMLINUZ" "$KERNEL.tmp"
  chmod 0644 "$KERNEL.tmp"
  printf '%s\n' "$PKG" >"$GUEST_DIR/kernel-package"
  mv -f "$KERNEL.tmp" "$KERNEL"
  log "kernel: $(basename "$VMLINUZ") -> $KERNEL; modules: ${!have[*]}"
fi

# The test module is built only against the exact headers of the guest's kernel.
HEADERS="/usr/src/$(headers_package "$PKG")"
spin_missing=()
command -v gcc >/dev/null 2>&1 || spin_missing+=(gcc)
command -v make >/dev/null 2>&1 || spin_missing+=(make)
headers_installed "$PKG" || spin_missing+=("$(headers_package "$PKG")")
if [[ ${#spin_missing[@]} -eq 0 ]]; then
  SPIN_STATE="spin=$(cat "$SPIN_SRC/Kbuild" "$SPIN_SRC/spin.c" | sha256sum | cut -d' ' -f1)"
else
  SPIN_STATE="spin - not built: missing ${spin_missing[*]} (run scripts/ensure-system-packages.sh test as root)"
fi

STAMP="$(
  {
    printf 'recipe=%s\n' "$RECIPE_VERSION"
    printf '%s\n' "$INIT_SCRIPT"
    sha256sum <"$BUSYBOX"
    printf 'kernel=%s\n%s\n' "$PKG" "$SPIN_STATE"
  } | sha256sum | cut -d' ' -f1
)"

if [[ -s "$KERNEL" && -s "$INITRD" && -s "$MODULES_TXT" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]]; then
  printf '%s\n%s\n' "$KERNEL" "$INITRD"
  exit 0
fi

# ------------------------------------------------------------- initramfs ----
ROOT="$WORK/root"
mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/tmp" \
  "$ROOT/root" "$ROOT/etc" "$ROOT/usr/bin" "$ROOT/usr/sbin" "$ROOT/mnt" "$ROOT/lib/modules"
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

cp -a "$KMOD_CACHE/lib/modules/$KVER" "$ROOT/lib/modules/"
MODDIR="/lib/modules/$KVER"
: >"$WORK/modules.txt"
while IFS= read -r ko; do
  name="$(tr '\0' '\n' <"$ROOT$MODDIR/$ko" | sed -n 's/^name=//p' | head -n1)"
  printf '%s %s\n' "${name:-$(basename "$ko" .ko)}" "$MODDIR/$ko" >>"$WORK/modules.txt"
done < <(cd "$ROOT$MODDIR" && find kernel -name '*.ko' | LC_ALL=C sort)

if [[ ${#spin_missing[@]} -eq 0 ]]; then
  log "building spin.ko against $HEADERS"
  cp -r "$SPIN_SRC" "$WORK/spin"
  make -s -C "$HEADERS" M="$WORK/spin" modules >&2 || die "building spin.ko against $HEADERS failed"
  # Never load a module built for another kernel: its vermagic must be the kernel's own.
  magic() { tr '\0' '\n' <"$1" | sed -n 's/^vermagic=//p'; }
  [[ "$(magic "$WORK/spin/spin.ko")" == "$(magic "$ROOT$MODDIR/kernel/${KMODS[0]}")" ]] ||
    die "spin.ko's vermagic '$(magic "$WORK/spin/spin.ko")' is not the kernel's"
  mkdir -p "$ROOT$MODDIR/extra"
  cp "$WORK/spin/spin.ko" "$ROOT$MODDIR/extra/spin.ko"
  printf 'spin %s\n' "$MODDIR/extra/spin.ko" >>"$WORK/modules.txt"
else
  log "spin.ko left out: missing ${spin_missing[*]}"
  printf '%s\n' "$SPIN_STATE" >>"$WORK/modules.txt"
fi
"$BUSYBOX" depmod -b "$ROOT" "$KVER"

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --quiet | gzip -9 -n) >"$INITRD.tmp"
mv -f "$INITRD.tmp" "$INITRD"
mv -f "$WORK/modules.txt" "$MODULES_TXT"
printf '%s\n' "$STAMP" >"$STAMP_FILE"
log "initramfs: $INITRD ($(wc -c <"$INITRD") bytes); modules: $(awk '$2 != "-" { printf "%s ", $1 }' "$MODULES_TXT")"

printf '%s\n%s\n' "$KERNEL" "$INITRD"
