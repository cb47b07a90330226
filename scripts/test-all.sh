#!/usr/bin/env bash
# `npm test` (with --checks: typecheck and lint first) and `npm run test:all`. Three lanes run side by
# side, each one file at a time:
# - guest: the e2e files that boot a QEMU guest (TCG keeps one core busy), streamed to the terminal;
# - host: unit, integration and the other e2e files, on the second core; printed when it ends;
# - container (test/container/): minutes of image building, mostly waiting on the network; niced so
#   the other two keep the CPU; printed last.
# A file belongs to the guest lane when it names qemu-system-x86_64, the qemu-target helper or
# startGuest. Fails when any lane fails.
set -uo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sysrq-bridge-test.XXXXXX")"
nice -n 10 node --import tsx --test --test-reporter=spec --test-reporter-destination="$tmp/container" \
  test/container/*.test.ts &
container=$!
# Ctrl-C or a failure to start: never leave a lane running on its own.
trap 'kill "$container" "${host:-}" 2>/dev/null; rm -rf "$tmp"' EXIT

suites=0
if [ "${1:-}" = "--checks" ]; then
  # Typecheck and lint each keep one core busy for a minute or so: side by side they take half the time.
  npm run typecheck &
  typecheck=$!
  npm run lint || suites=$?
  wait "$typecheck" || suites=$?
fi
if [ "$suites" -eq 0 ] && npm run build; then
  mapfile -t guest < <(grep -lE 'qemu-system-x86_64|qemu-target|startGuest' test/e2e/*.test.ts)
  mapfile -t host < <(ls test/unit/*/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts |
    grep -vxF -f <(printf '%s\n' "${guest[@]}"))
  node --import tsx --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination="$tmp/host" "${host[@]}" &
  host=$!
  node --import tsx --test --test-concurrency=1 "${guest[@]}" || suites=$?
  wait "$host" || suites=$?
  echo
  echo "# host lane (unit, integration, e2e without a guest; ran alongside): ${#host[@]} files"
  cat "$tmp/host"
else
  suites=1
  kill "$container" 2>/dev/null # the checks failed: no need to wait minutes for the image
fi
wait "$container"
containers=$?
trap - EXIT
echo
echo "# container suite (test/container/, ran alongside): exit $containers"
cat "$tmp/container"
rm -rf "$tmp"
[ "$suites" -eq 0 ] && [ "$containers" -eq 0 ]
