#!/usr/bin/env bash
# Run the integration and end-to-end tests as independent groups, E2E_JOBS at a time, each pytest
# process on a droplet of its own (BERTH_DROPLET); one log per group. A failure's summary is printed
# after all groups finish, so it ends the output.
set -u
jobs=${E2E_JOBS:-3}
logs=.lab/e2e-logs
mkdir -p "$logs"
rm -f "$logs"/*.failed

# name|droplet|pytest arguments (shell words). Long groups first, so the last to start are short (clean
# clone, 2 cores, 3 at a time: apps warm + lean 1290 s, changes 1110 s, apps stubborn + inputs 850 s,
# core 750 s, release 600 s, backup 550 s, infra-lab 205 s).
groups=(
  "changes|droplet-3|tests/e2e/test_every_change.py"
  "core|droplet-1|tests/integration tests/e2e/test_demo_deploy.py tests/e2e/test_provision.py tests/e2e/test_fresh_droplet.py"
  "apps-warm-lean|droplet-4|tests/e2e/test_real_apps.py -k 'warm or lean'"
  "apps-stubborn-inputs|droplet-5|tests/e2e/test_real_apps.py tests/e2e/test_bad_input.py -k 'stubborn or bad_input'"
  "release|droplet-2|tests/e2e/test_release.py"
  "backup|droplet-6|tests/e2e/test_backup.py"
  "infra-lab|cloud-1|tests/e2e/test_infra_lab.py"
)

run_group() {
  local name droplet args start=$SECONDS
  IFS='|' read -r name droplet args <<< "$1"
  eval "set -- $args"
  if BERTH_DROPLET=$droplet pytest -q -p no:cacheprovider "$@" > "$logs/$name.log" 2>&1; then
    echo "e2e $name: passed in $((SECONDS - start)) s ($(tail -1 "$logs/$name.log"))"
  else
    echo "e2e $name: FAILED after $((SECONDS - start)) s (log: $logs/$name.log)"
    touch "$logs/$name.failed"
  fi
  .venv/bin/python lab/lab.py droplet destroy "$droplet" >/dev/null 2>&1
}
export -f run_group
export logs

printf '%s\n' "${groups[@]}" | xargs -P "$jobs" -d '\n' -I{} bash -c 'run_group "$1"' _ {}

status=0
for marker in "$logs"/*.failed; do
  [ -e "$marker" ] || continue
  name=$(basename "$marker" .failed)
  echo "===== e2e $name: failures ====="
  grep -n -E '^(FAILED|ERROR) |^E  ' "$logs/$name.log" | head -n 60
  tail -n 5 "$logs/$name.log"
  status=1
done
exit $status
