# localgene: the two commands a new user runs are `make demo` and `make test`.
# Each one installs what it needs first (system packages when run as root or with sudo,
# then a virtual environment with the Python dependencies).

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
DEMO_DIR  ?= demo
SYS_PKGS  := r-base-core r-bioc-dnacopy bwa samtools mosdepth libhts-dev slurm-wlm munge \
             hisat2 python3-hisat2 subread cutadapt r-bioc-deseq2 \
             bcftools tabix freebayes chromium chromium-driver
PYTEST_ARGS ?=

.PHONY: all setup sysdeps venv demo test lint clean

all: test

sysdeps:
	@missing=""; for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYS_PKGS)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	  echo "missing system packages:$$missing (install them as root: apt-get install$$missing)" >&2; exit 1; fi; \
	echo "installing system packages:$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# bytecode for localgene's modules, as a non-editable install has it (where
	@# PYTHONDONTWRITEBYTECODE is set, Python would compile them again in every process)
	$(PY) -m compileall -q localgene >/dev/null
	@# the coverage engine's bincount (C, against libhts-dev), built once here rather than in a job
	$(PY) -m localgene.cnvkit.coverage_counter
	touch $@

venv: $(VENV)/.installed

setup: sysdeps venv

demo: setup
	LOCALGENE_HOME=$(CURDIR)/$(DEMO_DIR)/home $(VENV)/bin/localgene demo-data $(DEMO_DIR)/data
	LOCALGENE_HOME=$(CURDIR)/$(DEMO_DIR)/home $(VENV)/bin/localgene run $(DEMO_DIR)/data/job.json

lint: venv
	$(VENV)/bin/ruff check localgene tests benchmarks
	$(VENV)/bin/mypy localgene

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(DEMO_DIR) tests/.data .pytest_cache
