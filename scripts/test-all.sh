#!/usr/bin/env bash
# `npm run test:all` (after `npm run build`): the suites one file at a time, and alongside them the
# container suite (test/container/), which spends minutes building the Dockerfile's image, mostly
# waiting on the network (npm ci, debootstrap once); it runs niced so the timing-sensitive suites keep
# the CPU. Its report is printed after theirs. Fails when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."

report="$(mktemp "${TMPDIR:-/tmp}/sysrq-bridge-container-report.XXXXXX")"
nice -n 10 node --import tsx --test --test-reporter=spec --test-reporter-destination="$report" \
  test/container/*.test.ts &
container=$!
# Ctrl-C or a failure to start: never leave the container suite running on its own.
trap 'kill "$container" 2>/dev/null; rm -f "$report"' EXIT

node --import tsx --test --test-concurrency=1 test/unit/*.test.ts test/integration/*.test.ts test/e2e/*.test.ts
suites=$?
wait "$container"
containers=$?
trap - EXIT
echo
echo "# container suite (test/container/, ran alongside): exit $containers"
cat "$report"
rm -f "$report"
[ "$suites" -eq 0 ] && [ "$containers" -eq 0 ]
