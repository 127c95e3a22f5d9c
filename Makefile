# The only entry point for developers and CI. `make test` and `make demo` do all set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The official MLPerf Inference scripts the tests run (compliance checks, submission checker):
# the project's shared copy when there is one; set it to use your own mlcommons/inference clone.
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
MLPERF_INFERENCE_DIR ?= $(abspath $(wildcard $(HERE)../shared/oracle/mlcommons-inference))
export MLPERF_INFERENCE_DIR
# power-dev (github.com/mlcommons/power-dev), whose server and client the power tests run as they are.
MLPERF_POWER_DEV_DIR ?= $(abspath $(wildcard $(HERE)../shared/oracle/mlcommons-power-dev))
export MLPERF_POWER_DEV_DIR

.PHONY: install test demo lint format check bench protos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,official,onnx,deploy-test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(BIN)/python -m lon.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint
	$(BIN)/mypy loadgen qdl lon sut_server

bench: $(STAMP)
	$(BIN)/python benchmarks/loadgen_null_sut.py
	$(BIN)/python benchmarks/loadgen_memory.py
	$(BIN)/python benchmarks/network.py
	$(BIN)/python benchmarks/dispatch_workers.py
	$(BIN)/python benchmarks/loadgens_compared.py
	$(BIN)/python benchmarks/progress_overhead.py

# Regenerate the gRPC/protobuf code from protos/; tests fail when it is stale.
protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. \
		protos/v1/sut_node.proto

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
