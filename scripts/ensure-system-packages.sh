#!/usr/bin/env bash
# Installs the Debian packages the demo and the real-target test suites need, if any are missing.
# Run as root (or with passwordless sudo). Without either it only says what is missing: the suites
# that need a missing tool then skip loudly, except under CI, where they fail.
set -euo pipefail

packages=(
  qemu-system-x86  # qemu-system-x86_64: boots the test guest's kernel under TCG
  qemu-system-arm  # qemu-system-aarch64: an arm64 virt machine, which refuses inject-nmi (NMI capability test)
  busybox-static   # the guest's userland
  cpio             # packs the guest's initramfs
  socat            # real pty pairs for the tty transport tests
  ser2net          # a real telnet / RFC 2217 server for the terminal-server tests
  strace           # proves a BREAK reached the device (ser2net's TIOCSBRK/TIOCCBRK)
  openssl          # a self-signed certificate for the local Redfish (BMC) endpoint
  python3-serial   # pyserial: a real RFC 2217 client for the re-export tests
  conserver-server # conserver: the console server the README points at a telnet re-export
  conserver-client # console: conserver's client, attached through a pty from util-linux script
  picocom          # the terminal program the README reaches a telnet re-export with, through socat
  chromium         # a real browser for the web console tests (driven by playwright-core)
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-system-packages: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  exit 0
fi

echo "ensure-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
