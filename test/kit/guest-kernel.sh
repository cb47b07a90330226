# shellcheck shell=bash
# Which Debian kernel package the test guest boots: sourced by build-guest.sh (which builds the guest
# from it) and scripts/ensure-system-packages.sh (which installs its linux-headers for the guest's
# test module), so both pick the same version.
#
#   guest_kernel_package GUEST_DIR   prints e.g. linux-image-6.1.0-57-cloud-amd64, or nothing when the
#                                    apt lists do not know the kernel and no guest is cached
#
# The cached guest's kernel stays while its headers are installed or still in the archive; once the
# archive has moved on (a Debian point release drops the old ABI's headers), the current kernel of
# linux-image-cloud-amd64 replaces it: the guest is rebuilt rather than given a module built for
# another kernel.

GUEST_KERNEL_META="linux-image-cloud-amd64"

# The exact package the meta package depends on now, from the apt lists.
current_kernel_package() {
  apt-cache depends "$GUEST_KERNEL_META" 2>/dev/null |
    sed -n -E 's/^[[:space:]]*Depends:[[:space:]]*(linux-image-[0-9][^[:space:]]*-cloud-amd64)[[:space:]]*$/\1/p' |
    head -n1
}

# linux-image-6.1.0-57-cloud-amd64 -> linux-headers-6.1.0-57-cloud-amd64
headers_package() { printf 'linux-headers-%s\n' "${1#linux-image-}"; }

headers_installed() { [[ -f "/usr/src/$(headers_package "$1")/Makefile" ]]; }

headers_in_archive() {
  local candidate
  candidate="$(apt-cache policy "$(headers_package "$1")" 2>/dev/null | sed -n -E 's/^[[:space:]]*Candidate:[[:space:]]*//p')"
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

guest_kernel_package() {
  local dir="$1" cached="" current
  if [[ -s "$dir/vmlinuz" && -s "$dir/kernel-package" ]]; then cached="$(cat "$dir/kernel-package")"; fi
  if [[ -n "$cached" ]] && { headers_installed "$cached" || headers_in_archive "$cached"; }; then
    printf '%s\n' "$cached"
    return 0
  fi
  current="$(current_kernel_package || true)"
  # Without apt lists the archive cannot be asked: keep what is cached.
  if [[ -n "$current" ]]; then printf '%s\n' "$current"; elif [[ -n "$cached" ]]; then printf '%s\n' "$cached"; fi
}
