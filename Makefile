# edgeasr: every job is a target. The two a fresh machine needs:
#   make demo   export the embedded default model (Whisper tiny.en) and transcribe generated speech
#   make test   run the test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= tiny.en
THREADS ?= 2
DATA := data/eval
ART := artifacts/$(subst /,_,$(MODEL))
DEB_PACKAGES := espeak-ng

PROFILES := $(sort $(basename $(notdir $(wildcard profiles/*.yaml))))
BASE := $(ART)-onnx
CALIB := $(DATA)/calibration.jsonl

TARGET ?= x86-laptop
REPORT_LIMIT ?= 20
RUNS := runs/$(subst /,_,$(MODEL))
REPORT := report/$(subst /,_,$(MODEL))

DEFAULT_PROFILE ?= ort-int8-dynamic

.PHONY: demo test test-slow lint format data deps clean artifacts artifact report bench-long fuzz bench-serve

$(STAMP): pyproject.toml
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[export,dev]"
	touch $(STAMP)

deps: $(STAMP)

$(DATA)/manifest.jsonl: $(STAMP)
	$(BIN)/edgeasr data --out $(DATA) --count 120 --seed 0 --espeak 20 --perturb 20 --long-minutes 10

data: $(DATA)/manifest.jsonl

demo: $(STAMP) $(DATA)/manifest.jsonl $(BASE)/manifest.json
	$(BIN)/edgeasr export --model $(MODEL) --format openvino --out $(ART)-openvino --force
	@clips=$$(head -n 3 $(DATA)/manifest.jsonl | $(BIN)/python -c 'import json,sys; print(" ".join("$(DATA)/"+json.loads(l)["audio"] for l in sys.stdin))'); \
	for fmt in onnx openvino; do \
	  echo "== $(MODEL) via $$fmt"; \
	  $(BIN)/edgeasr transcribe $$clips --artifact $(ART)-$$fmt --threads $(THREADS); \
	done; \
	echo "== references"; head -n 3 $(DATA)/manifest.jsonl | $(BIN)/python -c 'import json,sys; [print(json.loads(l)["text"]) for l in sys.stdin]'

# The fp32 ONNX export every profile starts from (built once; profiles need no torch).
$(BASE)/manifest.json: $(STAMP)
	$(BIN)/edgeasr export --model $(MODEL) --format onnx --out $(BASE) --force

# Every shipped profile for MODEL (default tiny.en): artifacts/<model>-<profile>
artifacts: $(BASE)/manifest.json $(DATA)/manifest.jsonl
	@for p in $(PROFILES); do \
	  $(BIN)/edgeasr build --model $(BASE) --profile $$p --out $(ART)-$$p --calibration $(CALIB) --force || exit 1; \
	done

# One profile: make artifact PROFILE=ort-int8-dynamic [MODEL=src]
artifact: $(STAMP) $(DATA)/manifest.jsonl
	@test -n "$(PROFILE)" || { echo "usage: make artifact PROFILE=name [MODEL=src]"; exit 2; }
	$(BIN)/edgeasr build --model $(MODEL) --profile $(PROFILE) --out $(ART)-$(PROFILE) --calibration $(CALIB) --force

# Bench every profile of MODEL on the evaluation set (REPORT_LIMIT clips per condition; the
# 10-minute long-form file is left to `make bench-long`), then write report/<model>/.
report: artifacts
	$(BIN)/edgeasr bench --artifacts $(addprefix $(ART)-,$(PROFILES)) --manifest $(DATA)/manifest.jsonl \
	  --target $(TARGET) --out $(RUNS) --limit-per-kind $(REPORT_LIMIT) --skip-kinds long-form
	$(BIN)/edgeasr report --runs $(RUNS) --out $(REPORT)

# WER of the 10-minute long-form file and peak memory on a 1-hour file, default profile
bench-long: artifacts
	$(BIN)/python bench/long_audio.py --artifact $(ART)-$(DEFAULT_PROFILE) --manifest $(DATA)/manifest.jsonl \
	  --threads $(THREADS) --json $(RUNS)/long_audio.json

# Load test of `edgeasr serve` with the default profile at 1, 4 and 16 concurrent clients
bench-serve: artifacts
	$(BIN)/python bench/serve_load.py --artifact $(ART)-$(DEFAULT_PROFILE) --manifest $(DATA)/manifest.jsonl \
	  --threads $(THREADS) --json $(RUNS)/serve_load.json

# Coverage-guided fuzzing of audio decoding (atheris); FUZZ_RUNS inputs
FUZZ_RUNS ?= 100000
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_audio.py -runs=$(FUZZ_RUNS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf artifacts runs report .pytest_cache
