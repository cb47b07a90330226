#!/usr/bin/env bash
# `npm test` (with --checks: typecheck and lint first) and `npm run test:all`: the suites one file at
# a time and, alongside from the start, the container suite (test/container/), which spends minutes
# building the Dockerfile's image, mostly waiting on the network (npm ci, debootstrap once). It runs
# niced so the timing-sensitive suites keep the CPU, and overlaps typecheck and lint where it can.
# Its report is printed after theirs. Fails when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."

report="$(mktemp "${TMPDIR:-/tmp}/sysrq-bridge-container-report.XXXXXX")"
nice -n 10 node --import tsx --test --test-reporter=spec --test-reporter-destination="$report" \
  test/container/*.test.ts &
container=$!
# Ctrl-C or a failure to start: never leave the container suite running on its own.
trap 'kill "$container" 2>/dev/null; rm -f "$report"' EXIT

suites=0
if [ "${1:-}" = "--checks" ]; then
  # Typecheck and lint each keep one core busy for a minute or so: side by side they take half the time.
  npm run typecheck &
  typecheck=$!
  npm run lint || suites=$?
  wait "$typecheck" || suites=$?
fi
if [ "$suites" -eq 0 ]; then
  npm run build &&
    node --import tsx --test --test-concurrency=1 test/unit/*/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts
  suites=$?
else
  kill "$container" 2>/dev/null # the checks failed: no need to wait minutes for the image
fi
wait "$container"
containers=$?
trap - EXIT
echo
echo "# container suite (test/container/, ran alongside): exit $containers"
cat "$report"
rm -f "$report"
[ "$suites" -eq 0 ] && [ "$containers" -eq 0 ]
