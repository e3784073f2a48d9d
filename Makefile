# Everything a fresh machine with python3 and make needs: `make demo`, `make test`.
SHELL := /bin/bash
TOOLS := .uv
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: install demo test check dev lint bench bench-backfill clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

# --compile-bytecode: else every `dagster` command recompiles the ~2,500 modules it imports.
$(VENV)/.installed: $(UV) pyproject.toml uv.lock Makefile
	$(UV) sync --frozen --python python3 --compile-bytecode
	touch $@

install: $(VENV)/.installed

demo: install  ## Full load of every asset and partition from the bundled simulator into DuckDB.
	$(PY) -m analytics_dev.demo

test: install  ## The whole test suite (simulator over loopback, real DuckDB, real Dagster).
	$(PY) -m pytest -n 2 --durations=15

# The edit-test loop: lint, then the in-process tests (markers in pyproject.toml say what waits
# for `make test`: subprocess, browser, topology, benchmark).
check: lint  ## Lint and the in-process tests, in a few minutes; `make test` runs everything.
	$(PY) -m pytest -n 2 -m "not (subprocess or browser or topology or benchmark)" --durations=10

dev: install  ## Dagster UI (webserver + daemon) against the simulator, or the API .env names (PORT=3000).
	$(PY) -m analytics_dev.demo --serve --port $(or $(PORT),3000)

bench: install  ## Ours vs plain dlt vs a hand-written floor, one run (ROWS=200000 by default).
	$(PY) -m analytics_dev.benchmark --rows $(or $(ROWS),200000)

bench-backfill: install  ## 300 small workflow partitions in one backfill vs the same rows in one.
	$(PY) -m analytics_dev.benchmark.backfill --workflows $(or $(WORKFLOWS),300) --instance $(or $(INSTANCE),sqlite)

.PHONY: bench-remote
bench-remote: install  ## Ours and plain dlt on a rate-limited, remote-like simulator, 80 then 400 result pages (~12 min).
	$(PY) -m analytics_dev.benchmark.remote
	$(PY) -m analytics_dev.benchmark.remote --scenarios paced-200ms-10rps,paced-50ms-2rps --scale 5 --skip-plain

.PHONY: bench-sensor
bench-sensor: install  ## The sensor's ticks at 1,000 workflows on a 5 req/s plan with 50 ms latency (~6 min).
	$(PY) -m analytics_dev.benchmark.sensor --workflows $(or $(WORKFLOWS),1000)

.PHONY: bench-sensor-daemon
bench-sensor-daemon: install  ## dagster dev + the sensor from an empty instance vs one backfill, 1,000 workflows (~18 min).
	$(PY) -m analytics_dev.benchmark.sensor_daemon --workflows $(or $(WORKFLOWS),1000)

.PHONY: bench-webhooks
bench-webhooks: install  ## The receiver alone (1,000 events, 20 senders, SQLite and Postgres), then push vs polling under dagster dev (~10 min).
	$(PY) -m analytics_dev.benchmark.webhooks

lint: install  ## ruff: lint and formatting; mypy: types ([tool.mypy] in pyproject.toml).
	$(VENV)/bin/ruff check analytics_assets analytics_dev analytics_assets_tests
	$(VENV)/bin/ruff format --check analytics_assets analytics_dev analytics_assets_tests
	$(VENV)/bin/mypy

clean:
	rm -rf data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs

.PHONY: settings-docs
settings-docs: install  ## Regenerate .env.example and the README's settings table from the declaration.
	$(PY) -m analytics_dev.settings_docs --write
