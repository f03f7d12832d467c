# The two commands a new engineer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# make run PORT=8080 AWS_PORT=5002 to move the service or the AWS emulator.
PORT ?= 8000
AWS_PORT ?= 5001
DEMO_KEY ?= emma-local-demo-key
# The Segment Actions destination (TypeScript): its own npm package.
ACTIONS := segment-actions
# The emulator started by `make run`, never real AWS.
LOCAL_AWS := env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ENDPOINT_URL=http://127.0.0.1:$(AWS_PORT) \
	AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1

.PHONY: run demo tail test fuzz check lint typecheck pytest actions clean deploy infra package bench soak

# The whole service on this machine: AWS emulator, chalice local, a demo key. Ctrl-C stops it.
run: $(VENV)/.installed
	$(BIN)/python -m tools.run_local --port $(PORT) --aws-port $(AWS_PORT) --demo-key $(DEMO_KEY)

# Sample events of every type, sent to `make run` as Segment would.
demo: $(VENV)/.installed
	$(BIN)/python -m tools.send --port $(PORT) --key $(DEMO_KEY) --settings '{"groupIds": ["42"]}' samples/events.jsonl

# Each message `make run` publishes, as it lands.
tail: $(VENV)/.installed
	$(LOCAL_AWS) $(BIN)/python -m tools.tail

# Create the virtualenv if missing, install, then every check CI runs. The Actions destination is
# built before pytest, whose end-to-end tests run its dist/index.js against `make run`'s service.
test: check actions pytest

check: lint typecheck

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# Two workers: end-to-end and deployment tests in one, in turn (tests/scheduling.py), the rest in both.
pytest: $(VENV)/.installed
	$(BIN)/pytest --numprocesses 2

# Long fuzzing, apart from `make test`: 20,000 hypothesis examples of bodies and headers, a search of
# 2,000 bodies for the costliest to answer, 2,000 events per run of the fault-injection property,
# 2,500-event batches with each call slow in turn, and schemathesis on every schema boundary.
# Each test may take minutes here: half an hour before it counts as hung.
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=20000 GUARANTEE_EVENTS=2000 $(BIN)/pytest --timeout 1800 tests/functional/test_fuzz.py \
		tests/functional/test_guarantees.py tests/functional/test_costly_bodies.py --hypothesis-show-statistics
	PROGRESS_EVENTS=2500 $(BIN)/pytest --timeout 1800 tests/functional/test_slow_aws.py -k gets_further
	SCHEMATHESIS_COVERAGE=1 SCHEMATHESIS_EXAMPLES=300 $(BIN)/pytest --timeout 1800 tests/e2e/test_openapi_conformance.py

# The Actions destination: build, then its lint and unit tests.
actions: $(ACTIONS)/node_modules/.installed
	cd $(ACTIONS) && npm run --silent build && npm test --silent

# npm ci only when the lock file changed (it empties node_modules, the stamp with it).
$(ACTIONS)/node_modules/.installed: $(ACTIONS)/package-lock.json
	cd $(ACTIONS) && npm ci --no-audit --no-fund
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Deploy a stage to the AWS account of the current AWS configuration (see Deploying
# in the README): `make deploy STAGE=prod` (add FIFO=1 for FIFO topics).
deploy: $(VENV)/.installed
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod"; exit 2; }
	$(BIN)/python -m tools.deploy deploy --stage $(STAGE) $(if $(FIFO),--fifo)

# Only the stage's resource stack, and its outputs into .chalice/ (before `make package`).
infra: $(VENV)/.installed
	@test -n "$(STAGE)" || { echo "usage: make infra STAGE=dev|prod"; exit 2; }
	$(BIN)/python -m tools.deploy infra --stage $(STAGE) $(if $(FIFO),--fifo)

# The same stage as a CloudFormation (SAM) template in build/STAGE/, for `aws cloudformation deploy`.
package: $(VENV)/.installed
	@test -n "$(STAGE)" || { echo "usage: make package STAGE=dev|prod"; exit 2; }
	$(BIN)/python -m tools.deploy package --stage $(STAGE) --out build/$(STAGE)

# The service's cost per event, cold starts from the package as deployed, memory and each Lambda
# function's sizing, next to the AWS SDK's floor (a few minutes).
bench: $(VENV)/.installed
	$(BIN)/python -m bench $(if $(JSON),--json $(JSON))

# `make run`'s stack at volume: 100,000 events as Segment sends them (EVENTS=... for another number),
# answer times over the run, losses, copies and memory, and their figure in docs/ (several minutes).
soak: $(VENV)/.installed $(VENV)/.soak-installed $(ACTIONS)/node_modules/.installed
	cd $(ACTIONS) && npm run --silent build
	$(BIN)/python -m bench.soak --png docs/local-stack-at-volume.png $(if $(EVENTS),--events $(EVENTS))

# Pillow, for the soak's figure only.
$(VENV)/.soak-installed: requirements-soak.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-soak.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(ACTIONS)/node_modules $(ACTIONS)/dist
