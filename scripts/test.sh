#!/usr/bin/env bash
# make test: setup, the lab, then the checks (lint + unit) beside the suite, and the time of each phase.
# The checks need no droplet and the suite is CPU-bound but idle for a while at its start (the first
# provision waits on apt, the lab's first pulls on the registry): run side by side, the checks' 40-60 s
# mostly disappear into that. A failed check stops the suite at once (SIGTERM: the runner kills its
# groups) and fails the run with the checks' output.
set -uo pipefail
cd "$(dirname "$0")/.."
make_() { make --no-print-directory "$@"; }

t0=$(date +%s)
make_ setup || exit 1
t1=$(date +%s)
make_ lab || exit 1
t2=$(date +%s)

checks_log=.lab/checks.log
(
  started=$(date +%s)
  make_ -j 6 --output-sync=target lint unit >"$checks_log" 2>&1
  rc=$?
  echo "checks: lint + unit $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - started)) s" >>"$checks_log"
  exit "$rc"
) &
checks=$!
.venv/bin/python tests/runner.py --jobs "${SUITE_JOBS:-3}" ${SUITE_ARGS:-} &
suite=$!

wait "$checks"
checks_rc=$?
if [ "$checks_rc" != 0 ]; then
  kill -TERM "$suite" 2>/dev/null
  wait "$suite"
  cat "$checks_log"
  echo "test: the checks failed (above): the suite was stopped"
  exit 1
fi
wait "$suite"
suite_rc=$?
t3=$(date +%s)
cat "$checks_log"
echo "test: setup $((t1 - t0)) s, lab $((t2 - t1)) s, suite with lint + unit beside it $((t3 - t2)) s, total $((t3 - t0)) s"
exit "$suite_rc"
