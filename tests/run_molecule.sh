#!/usr/bin/env bash
# Run Molecule scenarios $JOBS at a time (one droplet each), one log per scenario.
# A failure's first error lines are printed after all scenarios finish, so they end the output.
set -u
jobs=${MOLECULE_JOBS:-3}
logs=.lab/molecule-logs
mkdir -p "$logs"
rm -f "$logs"/*.failed

run_one() {
  local s=$1 start=$SECONDS
  if molecule test -s "$s" > "$logs/$s.log" 2>&1; then
    echo "molecule $s: passed in $((SECONDS - start)) s"
  else
    echo "molecule $s: FAILED after $((SECONDS - start)) s (log: $logs/$s.log)"
    touch "$logs/$s.failed"
  fi
}
export -f run_one
export logs

printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

status=0
for marker in "$logs"/*.failed; do
  [ -e "$marker" ] || continue
  s=$(basename "$marker" .failed)
  echo "===== molecule $s: first errors ====="
  grep -n -B4 -A30 -E '^(fatal|failed): |FAILED!|UNREACHABLE!|Traceback|AssertionError|^E ' "$logs/$s.log" | head -n 120
  status=1
done
exit $status
