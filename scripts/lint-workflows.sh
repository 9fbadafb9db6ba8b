#!/usr/bin/env bash
# actionlint (with shellcheck on every `run:`) on this repository's workflows, then on the application
# example of docs/examples as if it called this checkout's deploy.yml: its inputs and secrets are
# checked against deploy.yml's workflow_call (a remote `uses:` is never read by actionlint).
set -euo pipefail
cd "$(dirname "$0")/.."
actionlint
example=docs/examples/app-deploy.yml
grep -q 'uses: [^ ]*/\.github/workflows/deploy\.yml@' "$example" ||
  { echo "lint-workflows: $example no longer calls .../.github/workflows/deploy.yml@REF" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/.github/workflows"
cp .github/workflows/deploy.yml "$work/.github/workflows/deploy.yml"
sed 's#uses: [^ ]*/\.github/workflows/deploy\.yml@[^ ]*#uses: ./.github/workflows/deploy.yml#' \
  "$example" > "$work/.github/workflows/app-deploy.yml"
(cd "$work" && git init -q . && actionlint .github/workflows/app-deploy.yml) |
  sed "s#^\.github/workflows/app-deploy\.yml#$example#"
