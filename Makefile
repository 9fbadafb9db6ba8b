# berth: `make demo` sets up the lab and runs the main job; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
DROPLETS ?= 1

.PHONY: setup lab lab-down demo test lint lint-yaml lint-python lint-ansible lint-docs lint-workflows unit suite molecule e2e bench \
	build clean next oldest mutants changelog changelog-release lint-changelog

setup:
	@bash scripts/setup-system.sh
	@$(MAKE) --no-print-directory $(VENV)/.installed .collections/ansible_collections/berth/ops

# Byte-compiled ahead, because the environment may forbid Python to write bytecode as it imports
# (PYTHONDONTWRITEBYTECODE: then every process compiles ansible-core again). Not ansible_collections
# (79 % of the files): Ansible's collection loader compiles those from source whatever is on disk.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile --group test
	$(PY) -m compileall -q -j 0 -x '/ansible_collections/' "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null
	touch $@

# The checkout itself is the collection berth.ops (see collections_path in ansible.cfg).
.collections/ansible_collections/berth/ops:
	mkdir -p .collections/ansible_collections/berth
	ln -sfn ../../.. $@

lab: setup
	$(PY) lab/lab.py up --droplets $(DROPLETS)

lab-down:
	$(PY) lab/lab.py down

demo: lab
	ansible-playbook playbooks/provision.yml
	ansible-playbook playbooks/deploy.yml

# The linters are independent: `make -j lint` runs them side by side (make test does).
lint: lint-yaml lint-python lint-ansible lint-docs lint-workflows lint-changelog

lint-yaml: setup
	yamllint -s .

lint-python: setup
	ruff check .

lint-ansible: setup
	ansible-lint --profile production

lint-docs: setup
	$(PY) tests/sanity/check_docs.py
	$(PY) scripts/variables.py --check

# actionlint and shellcheck come with the test group: the workflows, and the application example
# checked against deploy.yml's inputs and secrets.
lint-workflows: setup
	bash scripts/lint-workflows.sh

# CHANGELOG.md is generated from changelogs/ (antsibull-changelog fragments; docs/releasing.md).
lint-changelog: setup
	$(PY) scripts/changelog.py --check

changelog: setup
	$(PY) scripts/changelog.py

# Dates galaxy.yml's version in changelogs/changelog.yaml and consumes the fragments: commit, then tag v<version>.
changelog-release: setup
	$(PY) scripts/changelog.py --release

# The junit xml proves each skip is one tests/skips.yml allows (with its reason).
unit: setup
	rm -f .unit.xml
	pytest -q tests/unit --junitxml=.unit.xml
	$(PY) tests/runner.py --check-skips .unit.xml

# The Molecule scenarios and the pytest groups of tests/groups.py in one job pool, SUITE_JOBS at a
# time, each on a droplet of its own; a group passes only on proof (tests/runner.py). SUITE_ARGS adds
# runner options, e.g. SUITE_ARGS="--only core"; molecule and e2e are its two halves.
# 4 on 2 cores: the groups wait on gates, grace periods and alerts a tenth of the time; measured on a quiet
# clean clone, make test 1,433 s at 3 (CPUs busy 88 %) and 1,334-1,391 s at 4 (96-97 %, 3 runs), every group passed.
SUITE_JOBS ?= 4
SUITE_ARGS ?=
suite: lab
	$(PY) tests/runner.py --jobs $(SUITE_JOBS) $(SUITE_ARGS)

molecule: lab
	$(PY) tests/runner.py --jobs $(SUITE_JOBS) --kind molecule $(SUITE_ARGS)

e2e: lab
	$(PY) tests/runner.py --jobs $(SUITE_JOBS) --kind pytest $(SUITE_ARGS)

# What CI runs; the time of each phase at the end (the suite prints its groups' times itself). Lint,
# unit and the lab's start share nothing, so they run side by side (output kept per target); the
# suite starts once all three have passed.
test:
	@set -e; t0=$$(date +%s); \
	$(MAKE) --no-print-directory setup; t1=$$(date +%s); \
	$(MAKE) --no-print-directory -j 6 --output-sync=target lint unit lab; t2=$$(date +%s); \
	$(MAKE) --no-print-directory suite; t3=$$(date +%s); \
	echo "test: setup $$((t1 - t0)) s, lint + unit + lab (side by side) $$((t2 - t1)) s, suite $$((t3 - t2)) s, total $$((t3 - t0)) s"

bench: lab
	$(PY) bench/run.py

build: setup
	ansible-galaxy collection build --force --output-path $(CURDIR)/.lab/dist

clean: lab-down
	rm -rf .lab/dist

# lint + unit on the newest ansible-core and ansible in a second venv; the main pins stay where the
# whole e2e suite was validated.
NEXT := $(CURDIR)/.venv-next/bin
.venv-next/.installed: pyproject.toml
	test -x $(NEXT)/python || python3 -m venv .venv-next
	$(NEXT)/python -m pip install -q --upgrade pip
	$(NEXT)/python -m pip install -q --group test
	$(NEXT)/python -m pip install -q --upgrade ansible-core ansible
	touch $@

next: .venv-next/.installed .collections/ansible_collections/berth/ops
	$(NEXT)/ansible --version | head -1
	PATH=$(NEXT):$$PATH yamllint -s .
	PATH=$(NEXT):$$PATH ruff check .
	PATH=$(NEXT):$$PATH ansible-lint --profile production
	PATH=$(NEXT):$$PATH $(NEXT)/python tests/sanity/check_docs.py
	PATH=$(NEXT):$$PATH $(NEXT)/pytest -q tests/unit

# unit + docs/argspec sanity on the oldest ansible-core meta/runtime.yml admits (2.17).
OLDEST := $(CURDIR)/.venv-oldest/bin
.venv-oldest/.installed: pyproject.toml
	test -x $(OLDEST)/python || python3 -m venv .venv-oldest
	$(OLDEST)/python -m pip install -q "ansible-core==2.17.*" pytest pyyaml pyjwt cryptography requests
	touch $@

oldest: .venv-oldest/.installed .collections/ansible_collections/berth/ops
	$(OLDEST)/ansible --version | head -1
	PATH=$(OLDEST):$$PATH $(OLDEST)/python tests/sanity/check_docs.py
	PATH=$(OLDEST):$$PATH $(OLDEST)/pytest -q -p no:cacheprovider tests/unit

# Mutation check, not part of `make test`: each mutant of tests/mutants.yml (a small fault in berth's
# own code, applied alone and then put back byte for byte) must make its tests fail, or this fails.
# MUTANTS adds options: MUTANTS=--unit-only or MUTANTS=--list need no lab; MUTANTS="--only gate-skipped".
# e2e mutants start from the base snapshot of the last suite run (one of roles/ provisions from scratch).
MUTANTS ?=
mutants: $(if $(filter --unit-only --list,$(MUTANTS)),setup,lab)
	BERTH_BASE=clone $(PY) scripts/mutants.py $(MUTANTS)
