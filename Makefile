# The two commands a new engineer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test check lint typecheck pytest clean deploy infra package measure

# Create the virtualenv if missing, install, then every check CI runs.
test: check pytest

check: lint typecheck

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: $(VENV)/.installed
	$(BIN)/pytest

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

# Cold start, warm time and peak memory of each Lambda function, on moto.
measure: $(VENV)/.installed
	$(BIN)/python -m tools.measure

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
