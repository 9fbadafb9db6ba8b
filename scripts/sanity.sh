#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships: build the tarball, install it into a scratch
# ansible_collections tree, run every sanity test there (each in its own virtualenv, requirements from
# PyPI). release.yml runs the same. About 15 minutes on 2 busy cores.
#
# ansible-test bootstraps pip in those virtualenvs with a get-pip script from a host that is not
# reachable everywhere; where it is not, and only then, a stand-in that takes pip from Python's own
# ensurepip and upgrades it from PyPI is put where ansible-test looks for its cached copy.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.venv/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip_version=$("$bin/python" - <<'PY'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", source.read_text()).group(1))
PY
)
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$cache" ] && ! "$bin/python" -c 'import urllib.request; urllib.request.urlopen("https://ci-files.testing.ansible.com/", timeout=10)' 2>/dev/null; then
  mkdir -p "$(dirname "$cache")"
  cat > "$cache" <<'PY'
"""Stand-in for get-pip.py (scripts/sanity.sh): pip from ensurepip, then the pip ansible-test asks for."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install",
                       *[a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]])
PY
fi
root=$PWD
cd "$work"  # away from the checkout's ansible.cfg, which links the checkout in as berth.ops
env -u ANSIBLE_CONFIG "$bin/ansible-galaxy" collection build --output-path "$work/dist" "$root" >/dev/null
env -u ANSIBLE_CONFIG "$bin/ansible-galaxy" collection install --no-deps -p "$work/c" "$work"/dist/*.tar.gz >/dev/null
cd "$work/c/ansible_collections/berth/ops"
env -u ANSIBLE_CONFIG PATH="$bin:$PATH" "$bin/ansible-test" sanity --venv --requirements --python 3.11 --color no "$@"
