#!/usr/bin/env bash
# Installs the Debian packages a package group needs, if any are missing:
#
#   ensure-system-packages.sh [demo|test]    (default: test)
#
#   demo  what `npm run demo` uses: QEMU and what test/kit/build-guest.sh builds the guest with
#   test  everything the test suites use (the demo's packages included), with gcc, make and the
#         linux-headers package of the guest's exact kernel (test/kit/guest-kernel.sh picks it), which
#         build-guest.sh builds the guest's test module with
#
# When every package is installed (and the apt lists know the guest's kernel package, or the guest is
# already built) it exits at once without calling apt. Otherwise it says what it installs and waits up
# to 10 min for another apt/dpkg to let go of its locks instead of failing. Run as root (or with
# passwordless sudo). Without either it only says what is missing: the suites that need a missing
# tool then skip loudly, except under CI, where they fail.
#
# For the script's own test: SYSRQ_BRIDGE_EXTRA_PACKAGES adds packages to the group, and
# SYSRQ_BRIDGE_APT_SIMULATE=1 skips `apt-get update`, takes the dpkg lock with the real install command
# given no package (a no-op; `apt-get -s` takes no lock), then prints `apt-get -s`'s plan.
set -euo pipefail

group="${1:-test}"
demo_packages=(
  qemu-system-x86  # qemu-system-x86_64: boots the guest's kernel under TCG
  busybox-static   # the guest's userland
  cpio             # packs the guest's initramfs
)
test_packages=(
  "${demo_packages[@]}"
  qemu-system-arm  # qemu-system-aarch64: an arm64 virt machine, which refuses inject-nmi (NMI capability test)
  socat            # real pty pairs for the tty transport tests
  ser2net          # a real telnet / RFC 2217 server for the terminal-server tests
  strace           # proves a BREAK reached the device (ser2net's TIOCSBRK/TIOCCBRK)
  openssl          # a self-signed certificate for the local Redfish (BMC) endpoint
  pdudaemon        # the PDU daemon LAVA labs run: a real power channel (localcmdline driver) for the guest
  python3-serial   # pyserial: a real RFC 2217 client for the re-export tests
  conserver-server # conserver: the console server the README points at a telnet re-export
  conserver-client # console: conserver's client, attached through a pty from util-linux script
  picocom          # the terminal program the README reaches a telnet re-export with, through socat
  chromium         # a real browser for the web console tests (driven by playwright-core)
  podman           # builds and runs the Dockerfile's image as root (test/container/); apt adds conmon, CNI, iptables
  runc             # podman's runtime here: crun refuses hybrid cgroup (v1) hosts
  debootstrap      # the stand-in node:20-bookworm-slim base image (test/kit/build-node-base.sh)
  debian-archive-keyring # debootstrap checks the mirror's Release signature with it
  gcc                    # builds the guest's test module (test/kit/spin-module/), with make and
  make                   # linux-headers-<the guest kernel's ABI>, added below from the apt lists
  g++                    # node-gyp builds node-pty (the exec transport's optional pty) at `npm ci`
  python3                # node-gyp runs on it
  openipmi               # ipmi_sim: a real BMC (SOL, chassis power, NMI) in front of a guest
  libopenipmi-dev        # headers for the ipmi_sim module that turns `chassis power diag` into an NMI
  ipmitool               # the IPMI client the ipmi-sol transport and the ipmi power/NMI channels drive
  openssh-client         # ssh: the real client for the SSH door's tests
  openssh-server         # ssh-keygen and sshd, for the docs' claim that a BREAK cannot cross an ssh pty
)
case "$group" in
  demo) packages=("${demo_packages[@]}") ;;
  test) packages=("${test_packages[@]}") ;;
  *)
    echo "usage: ensure-system-packages.sh [demo|test]" >&2
    exit 2
    ;;
esac
read -r -a extra <<<"${SYSRQ_BRIDGE_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")

# shellcheck source=../test/kit/guest-kernel.sh
. "$(dirname "${BASH_SOURCE[0]}")/../test/kit/guest-kernel.sh"
guest_dir="${SYSRQ_BRIDGE_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sysrq-bridge/guest}"

# Sets `missing` and `need_lists` (the apt lists cannot name the guest's kernel package: empty in a
# fresh container; build-guest.sh downloads the kernel .deb by name from them).
find_missing() {
  local pkg kernel
  missing=()
  need_lists=0
  wanted=("${packages[@]}")
  kernel="$(guest_kernel_package "$guest_dir")"
  if [ -z "$kernel" ]; then
    need_lists=1
  elif [ "$group" = test ]; then
    wanted+=("$(headers_package "$kernel")")
  fi
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
}
find_missing
[ ${#missing[@]} -eq 0 ] && [ "$need_lists" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-system-packages: missing for '$group': ${missing[*]:-(apt lists without linux-image-cloud-amd64)} (run as root to install them)" >&2
  exit 0
fi

log() { echo "ensure-system-packages: $*" >&2; }
export DEBIAN_FRONTEND=noninteractive
LOCK_WAIT_S=600
simulate="${SYSRQ_BRIDGE_APT_SIMULATE:-0}"

# apt-get update does not wait for /var/lib/apt/lists/lock (DPkg::Lock::Timeout covers only dpkg's
# lock): retry while another apt holds it.
update_lists() {
  local deadline=$((SECONDS + LOCK_WAIT_S)) err
  while :; do
    if err="$("${sudo[@]}" apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT_S" update -qq 2>&1 >/dev/null)"; then
      return 0
    fi
    if [[ "$err" != *"Could not get lock"* ]] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$err" >&2
      return 1
    fi
    log "waiting for another apt to release the package lists"
    sleep 2
  done
}

if [ "$simulate" = 1 ]; then
  log "simulated: no apt-get update"
else
  log "updating the apt package lists (waits up to ${LOCK_WAIT_S} s for another apt)"
  update_lists
fi
# The fresh lists may name another kernel (headers gone from the archive: build-guest.sh moves on).
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
log "installing for '$group': ${missing[*]} (waits up to ${LOCK_WAIT_S} s for the dpkg lock)"
apt_install() {
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT_S" install -y -qq --no-install-recommends "$@" >&2
}
if [ "$simulate" = 1 ]; then
  apt_install # no package: takes (and waits for) the dpkg lock as the real install does, changes nothing
  "${sudo[@]}" apt-get -s install -qq --no-install-recommends "${missing[@]}" >&2
  log "simulated only: ${missing[*]}"
else
  apt_install "${missing[@]}"
  log "installed: ${missing[*]}"
fi
