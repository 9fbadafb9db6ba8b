# berth: `make demo` sets up the lab and runs the main job; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
DROPLETS ?= 1
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: setup lab lab-down demo test lint unit molecule e2e bench build clean

setup:
	@bash scripts/setup-system.sh
	@$(MAKE) --no-print-directory $(VENV)/.installed .collections/ansible_collections/berth/ops

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --group test
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

lint: setup
	yamllint -s .
	ruff check .
	ansible-lint --profile production
	$(PY) tests/sanity/check_docs.py

unit: setup
	pytest -q tests/unit

# Scenarios are independent (one droplet each): MOLECULE_JOBS run at a time.
MOLECULE_JOBS ?= 3
molecule: lab
	MOLECULE_JOBS=$(MOLECULE_JOBS) tests/run_molecule.sh $(SCENARIOS)

# Independent groups (one droplet each): E2E_JOBS run at a time.
E2E_JOBS ?= 3
e2e: lab
	E2E_JOBS=$(E2E_JOBS) tests/run_e2e.sh

test: lint unit molecule e2e

bench: lab
	$(PY) bench/run.py

build: setup
	ansible-galaxy collection build --force --output-path $(CURDIR)/.lab/dist

clean: lab-down
	rm -rf .lab/dist
