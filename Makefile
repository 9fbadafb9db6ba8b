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

.PHONY: setup lab lab-down demo test lint unit molecule e2e bench build clean next oldest

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
