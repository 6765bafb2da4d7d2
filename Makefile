# One command to try it (make demo), one to test it (make test). Everything installs under the repo.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
VENDOR ?= sendgrid
PROFILES ?= 50000

.PHONY: install demo test lint unit bench bench-smoke clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
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

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory bench-smoke

bench: install
	$(PY) -m bench.run --profiles 1000000

bench-smoke: install
	$(PY) -m bench.run --profiles 20000 --smoke

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
