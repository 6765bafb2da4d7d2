# One command to try it (make demo), one to test it (make test). Everything installs under the repo.
PYTHON ?= $(shell command -v python3.13 >/dev/null 2>&1 && PYENV_VERSION=3.13.0 python3.13 -c "import sys;print(sys.executable)" 2>/dev/null || echo python3.13)
VENV := .venv
PY := $(VENV)/bin/python
VENDOR ?= sendgrid
PROFILES ?= 50000

.PHONY: install demo test lint security infra-check unit bench bench-smoke api clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# checkov in a venv of its own: its pinned dependencies would fight the app's.
.venv-infra/.installed: requirements-infra.txt
	@test -x .venv-infra/bin/python || $(PYTHON) -m venv .venv-infra
	.venv-infra/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

demo: install
	$(PY) -m devtools.cli demo --vendor $(VENDOR) --profiles $(PROFILES)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared destinations simulators devtools blueprints bench function_app.py

# Code scanning (every finding fixed or reasoned in .bandit.yaml / in-line) and a dependency audit that
# says "NOT RUN" when its advisory database cannot be reached, instead of reporting no vulnerabilities.
security: install
	$(VENV)/bin/bandit -q -r shared destinations blueprints function_app.py -c .bandit.yaml
	$(PY) -m devtools.audit

# Security checks of infra/ offline (the Bicep compiler cannot be downloaded here; pycep-parser parses
# every template in tests/infra). Every skipped check carries its reason in-line in infra/app/*.bicep.
infra-check: .venv-infra/.installed
	.venv-infra/bin/checkov -d infra --framework bicep --skip-download --compact --quiet

test: install lint security infra-check
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory bench-smoke

# The admin API on http://127.0.0.1:8000/api with Azurite, the vendor's simulator and the Key Vault
# stand-in; tokens: python -m devtools.tokens admin (see docs/API.md).
api: install
	$(PY) -m devtools.api_server --vendor $(VENDOR)

bench: install
	$(PY) -m bench.run --profiles 1000000

bench-smoke: install
	$(PY) -m bench.run --profiles 20000 --smoke

clean:
	rm -rf $(VENV) .venv-infra node_modules .pytest_cache .mypy_cache .ruff_cache
