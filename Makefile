# The two commands a new user needs:
#   make book   set up the environment, run every chapter on the default profile, build the HTML
#   make test   set up the environment, run the test suite (CI runs exactly this)
PROFILE ?= synth
# .venv (made by scripts/setup.sh) holds the locked packages and this clone installed in editable mode:
# no PYTHONPATH needed.
PY := .venv/bin/python

.PHONY: verify-plan setup book run html test verify pins clean

setup:
	@bash scripts/setup.sh

book: setup
	$(PY) -m hoilib run --profile $(PROFILE)
	$(PY) -m hoilib book --profile $(PROFILE)
	@echo "open _build/html/index.html"

run: setup
	$(PY) -m hoilib run --profile $(PROFILE)

html: setup
	$(PY) -m hoilib book --profile $(PROFILE)

# your build's headline numbers against the published build's (results/published.json); exit 1 if any is off
verify: setup
	$(PY) -m hoilib verify --run runs/$(PROFILE)

# rerun confirmatory worlds and compare them with their committed records, digit for digit:
#   make verify-plan WORLDS="1000 1001"
verify-plan: setup
	$(PY) -m hoilib sweep --plan results/plan.yaml --check --worlds $(WORLDS)

test: setup
	@bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q

# the stored outputs tests/test_pinned.py compares with (one smoke run, seed 0; tolerance: float
# rounding under portable kernels); rerun when a change is meant to move them
pins: setup
	$(PY) -m hoilib.publish.pins

clean:
	rm -rf _build runs/smoke runs/synth
