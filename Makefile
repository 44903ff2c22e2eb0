# The project's contract: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
# SAM CLI must not phone home from a build or a test.
export SAM_CLI_TELEMETRY := 0
REPORTS ?= reports
CHECKOV_VENV ?= $(VENV)/checkov
CHECKOV_VERSION ?= 3.3.30
CHAOS_EXAMPLES ?= 300
# The IAM policy evaluator every engine run uses (cli/cutover_cli/engine/iam.py): Node packages, pinned by
# tools/iam-evaluator/package-lock.json.
IAM_EVALUATOR := tools/iam-evaluator/node_modules/.package-lock.json


.PHONY: help install iam-evaluator lock lint format typecheck validate cfn-lint checkov build test unit integration coverage rehearse chaos mutations bench schema deploy clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create the virtual environment and install the project with its dev tools (pinned: constraints.txt)

$(IAM_EVALUATOR): tools/iam-evaluator/package.json tools/iam-evaluator/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 18+ and npm are needed for the IAM evaluator (apt install nodejs npm)"; exit 1; }
	npm ci --prefix tools/iam-evaluator --no-audit --no-fund --loglevel=error

iam-evaluator: $(IAM_EVALUATOR) ## Install the IAM policy evaluator the engine judges every call with (Node; pinned by its package-lock.json)

lock: ## Re-resolve pyproject.toml's ranges in a fresh environment and pin the result in constraints.txt
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet -e ".[dev]"
	{ sed -n '1,/^# make test/p' constraints.txt; $(VENV)-lock/bin/python -m pip freeze --exclude-editable | grep -v '^cutover'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(VENV)-lock
	@echo "constraints.txt updated: run make install test, then commit it"

lint: $(STAMP) ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Reformat the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy on the library, the CLI and every function
	$(BIN)/mypy layers/cutover/cutover cli/cutover_cli
	for f in functions/*/app.py; do $(BIN)/mypy "$$f" || exit 1; done

validate: $(STAMP) ## sam validate --lint (cfn-lint) on template.yaml
	$(BIN)/sam validate --lint --template template.yaml

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov==$(CHECKOV_VERSION)"

cfn-lint: $(STAMP) ## cfn-lint with the serverless rules (.cfnlintrc.yaml)
	$(BIN)/cfn-lint

checkov: $(CHECKOV_VENV)/bin/checkov ## checkov on template.yaml (its own venv: its pins clash with the project's)
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml

build: $(STAMP) ## sam build: the layer (arm64 wheels for python3.13) and the functions
	$(BIN)/sam build --template template.yaml

coverage: $(STAMP) $(IAM_EVALUATOR) ## All tests on every core, with the library's coverage gate (90%)
	CUTOVER_IAM_CHECK=on $(BIN)/pytest -n auto --cov --cov-report=term-missing tests

test: lint typecheck validate cfn-lint checkov build coverage ## Everything CI runs: lint, types, template checks, sam build, all tests

unit: $(STAMP) $(IAM_EVALUATOR) ## Unit tests only
	$(BIN)/pytest tests/unit

integration: $(STAMP) $(IAM_EVALUATOR) ## Integration tests only (the real ASL on the local engine, each function under its role)
	$(BIN)/pytest tests/integration

rehearse: $(STAMP) $(IAM_EVALUATOR) ## Demo rehearsals (a healthy cutover and one that rolls back); HTML reports in reports/
	mkdir -p $(REPORTS)
	CUTOVER_IAM_CHECK=on $(BIN)/cutover rehearse examples/plans/orders-single.yaml --scenario examples/scenarios/healthy.yaml --report $(REPORTS)/healthy.html
	CUTOVER_IAM_CHECK=on $(BIN)/cutover rehearse examples/plans/orders-single.yaml --scenario examples/scenarios/alarm-mid-step.yaml --report $(REPORTS)/alarm-mid-step.html
	@echo "Reports: $(REPORTS)/healthy.html $(REPORTS)/alarm-mid-step.html"

chaos: $(STAMP) ## A longer chaos campaign (CHAOS_EXAMPLES=300 by default); prints its figures
	$(BIN)/python bench/chaos.py --examples $(CHAOS_EXAMPLES) $(if $(SEED),--seed $(SEED))

mutations: $(STAMP) ## Apply the bugs the suite must catch to a copy of the project; each must be killed
	$(BIN)/python bench/mutations.py

bench: build ## Every benchmark in bench/: prints its tables, writes bench/results.json (see docs/performance.md)
	$(BIN)/python bench/reaction.py
	$(BIN)/python bench/coldstart.py
	$(BIN)/python bench/api_calls.py
	$(BIN)/python bench/wave_scale.py
	$(BIN)/python bench/rehearsal_speed.py
	$(BIN)/python bench/engine_speed.py

schema: $(STAMP) ## Regenerate schemas/plan.schema.json from the library
	$(BIN)/python -c "from cutover.plan import plan_json_schema_text as t; open('schemas/plan.schema.json','w').write(t())"

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(BIN)/sam deploy --guided

clean: ## Remove build output and caches
	rm -rf .aws-sam tools/iam-evaluator/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov $(REPORTS)
