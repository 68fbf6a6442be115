# qstack: thin root Makefile. Every target sets up what it needs.
PYTHON ?= python3.11
TOXENV_DIR := .venv-tox
TOX := $(TOXENV_DIR)/bin/tox
DEV := .venv
TOOLS := qformat qtrain qsearch accelsim ibexgen cimnoise qviz
ENVS ?= qformat,qformat-torch,qtrain,accelsim,ibexgen,cimnoise,qviz,qsearch,pipeline

.PHONY: help test demo bench lint dev clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(TOX):
	$(PYTHON) -m venv $(TOXENV_DIR)
	$(TOXENV_DIR)/bin/pip install -q --disable-pip-version-check "tox>=4.4,<5"

test: $(TOX) ## Set up and run every package's tests (tox, one env per package)
	rm -f .tox/junit-*.xml
	$(TOX) run-parallel -p 2 --parallel-no-spinner -e $(ENVS); rc=$$?; \
	  $(TOXENV_DIR)/bin/python tools/junit_summary.py '.tox/junit-*.xml' || rc=1; exit $$rc

$(DEV)/.installed: $(wildcard packages/*/pyproject.toml)
	test -x $(DEV)/bin/python || $(PYTHON) -m venv $(DEV)
	$(DEV)/bin/pip install -q --disable-pip-version-check -e "packages/qformat[torch,pandas,test]" \
	  $(foreach t,$(filter-out qformat,$(TOOLS)),-e packages/$(t)[test])
	touch $@

dev: $(DEV)/.installed ## Create .venv with every tool installed (editable)

demo: dev ## Set up and run the main pipeline on the embedded digits data
	PATH="$(CURDIR)/$(DEV)/bin:$$PATH" bash scripts/demo.sh

bench: dev ## Run every package's benchmarks; writes bench/results.md
	PATH="$(CURDIR)/$(DEV)/bin:$$PATH" $(DEV)/bin/python bench/run_all.py

lint: $(TOX) ## Static checks (ruff)
	$(TOX) run -e lint

clean: ## Remove environments and build outputs
	rm -rf $(TOXENV_DIR) $(DEV) .tox demo/out bench/out
