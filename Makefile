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

.PHONY: demo transcripts test test-slow lint format data deps clean artifacts artifact report bench-long fuzz bench-serve \
	bench-peers bench-qwen bench-qwen-peers report-qwen-fixture arm-check fixture-qwen peers-venv

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

$(DATA)/manifest.jsonl: | $(STAMP)
	$(BIN)/edgeasr data --out $(DATA) --count 120 --seed 0 --espeak 20 --perturb 20 --long-minutes 10

data: $(DATA)/manifest.jsonl

# The main job: export MODEL to both formats and transcribe three clips beside the committed
# Qwen3-ASR test model's transcripts, then build every profile, score it and write the report.
QWEN_FIXTURE := fixtures/qwen3-asr-small
FIXTURE_ART := artifacts/$(subst /,_,$(QWEN_FIXTURE))
demo: transcripts report
	@echo "== report: $(REPORT)/report.md"

transcripts: $(STAMP) $(DATA)/manifest.jsonl $(BASE)/manifest.json
	$(MAKE) --no-print-directory MODEL=$(QWEN_FIXTURE) $(FIXTURE_ART)-onnx/manifest.json
	$(BIN)/edgeasr export --model $(MODEL) --format openvino --out $(ART)-openvino --force
	@clips=$$(head -n 3 $(DATA)/manifest.jsonl | $(BIN)/python -c 'import json,sys; print(" ".join("$(DATA)/"+json.loads(l)["audio"] for l in sys.stdin))'); \
	for fmt in onnx openvino; do \
	  echo "== $(MODEL) via $$fmt"; \
	  $(BIN)/edgeasr transcribe $$clips --artifact $(ART)-$$fmt --threads $(THREADS); \
	done; \
	echo "== Qwen3-ASR test model ($(QWEN_FIXTURE), closed vocabulary) via onnx"; \
	$(BIN)/edgeasr transcribe $$clips --artifact $(FIXTURE_ART)-onnx --language en --threads $(THREADS); \
	echo "== references"; head -n 3 $(DATA)/manifest.jsonl | $(BIN)/python -c 'import json,sys; [print(json.loads(l)["text"]) for l in sys.stdin]'

# The fp32 ONNX export every profile starts from (built once; profiles need no torch). A MODEL
# that is a local checkpoint folder (the committed Qwen3-ASR test model) is exported again when
# its files change, and with it every profile.
$(BASE)/manifest.json: $(wildcard $(MODEL)/*.json $(MODEL)/*.safetensors) | $(STAMP)
	$(BIN)/edgeasr export --model $(MODEL) --format onnx --out $(BASE) --force

# Every shipped profile for MODEL (default tiny.en): artifacts/<model>-<profile>, rebuilt when the
# base export or the profile's YAML changes
PROFILE_ARTS := $(addsuffix /manifest.json,$(addprefix $(ART)-,$(PROFILES)))
$(ART)-%/manifest.json: profiles/%.yaml $(BASE)/manifest.json $(DATA)/manifest.jsonl
	$(BIN)/edgeasr build --model $(BASE) --profile $* --out $(ART)-$* --calibration $(CALIB) --force
artifacts: $(PROFILE_ARTS)

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

# Peer engines (optimum-intel 2.2.0 needs transformers 4.57.6, OpenVINO GenAI) live in a
# virtualenv of their own: benchmark-only, never runtime dependencies.
PEERS := .venv-peers
PEERS_LIMIT ?= 40
$(PEERS)/.installed:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q --upgrade pip
	$(PEERS)/bin/pip install -q torch==2.13.0
	printf 'torch==2.13.0\ntransformers==4.57.6\n' > $(PEERS)/constraints.txt
	$(PEERS)/bin/pip install -q -c $(PEERS)/constraints.txt "optimum-intel[openvino]==2.2.0" \
	  openvino-genai==2026.4.1 qwen-asr==0.0.6 soundfile
	$(PEERS)/bin/pip uninstall -q -y torchvision  # the index's build breaks against the CPU torch
	$(PEERS)/bin/pip install -q --no-deps -e .  # the workers' shared helpers (edgeasr.runtime.metrics)
	touch $@
peers-venv: $(PEERS)/.installed

# edgeasr's profiles against faster-whisper fp32/int8, transformers fp32/dynamic int8 and OpenVINO
# GenAI on optimum-intel exports: PEERS_LIMIT clean clips + the espeak-ng ones, engines alternating
bench-peers: artifacts $(PEERS)/.installed
	$(BIN)/python bench/peers.py --manifest $(DATA)/manifest.jsonl --limit-per-kind $(PEERS_LIMIT) \
	  --artifacts $(addprefix $(ART)-,$(PROFILES)) --genai-from $(MODEL) --peers-python $(PEERS)/bin/python \
	  --threads $(THREADS) --json $(RUNS)/peers.json --markdown $(REPORT)/peers.md

# Full-size Qwen3-ASR (random weights, released shapes): speed, size, memory per profile
QWEN_SIZE ?= 0.6b
QWEN_BATCH ?= 1,2,4,8
QWEN_PROFILES ?= ort-fp32,ort-int8-dynamic,ort-int8-weight-only,ort-int4-weight-only,ov-fp32,ov-int8-weight-only,ov-int4-weight-only
bench-qwen: $(STAMP) $(DATA)/manifest.jsonl
	test -f work/models/qwen3-asr-$(QWEN_SIZE)/config.json || \
	  $(BIN)/edgeasr random-model --size $(QWEN_SIZE) --out work/models/qwen3-asr-$(QWEN_SIZE)
	$(BIN)/python bench/qwen_bench.py --model work/models/qwen3-asr-$(QWEN_SIZE) --work work/qwen3-asr-$(QWEN_SIZE) \
	  --profiles $(QWEN_PROFILES) --threads $(THREADS) --batch $(QWEN_BATCH) --json runs/qwen/$(QWEN_SIZE).json

# Qwen3-ASR against transformers PyTorch (fp32, bf16, dynamic int8) and optimum-intel OpenVINO
# (fp32, int8, int4 weights) on the same random-weight checkpoint: one process per engine, one engine
# at a time (at 0.6B all eleven engines together need ~40 GB)
comma := ,
QWEN_PEER_PROFILES ?= ort-fp32,ort-int8-weight-only,ort-int4-weight-only,ort-int8-ov-encoder,ov-int8-weight-only,ov-int4-weight-only
QWEN_PEER_SECONDS ?= 10,60
# the OpenVINO profiles again at the precision optimum-intel runs at (OpenVINO's default: bf16 on CPUs with it)
QWEN_PEER_AT ?= ov-int8-weight-only@bf16,ov-int4-weight-only@bf16
bench-qwen-peers: $(STAMP) $(PEERS)/.installed $(DATA)/manifest.jsonl
	test -f work/models/qwen3-asr-$(QWEN_SIZE)/config.json || \
	  $(BIN)/edgeasr random-model --size $(QWEN_SIZE) --out work/models/qwen3-asr-$(QWEN_SIZE)
	$(BIN)/python bench/qwen_bench.py --model work/models/qwen3-asr-$(QWEN_SIZE) --work work/qwen3-asr-$(QWEN_SIZE) \
	  --profiles $(QWEN_PEER_PROFILES) --build-only
	$(BIN)/python bench/qwen_peers.py --model work/models/qwen3-asr-$(QWEN_SIZE) --work work/qwen3-asr-$(QWEN_SIZE) \
	  --artifacts $(addprefix work/qwen3-asr-$(QWEN_SIZE)/,$(subst $(comma), ,$(QWEN_PEER_PROFILES) $(QWEN_PEER_AT))) \
	  --seconds $(QWEN_PEER_SECONDS) --tokens 32 --threads $(THREADS) --peers-python $(PEERS)/bin/python --sequential \
	  --json runs/qwen/peers-$(QWEN_SIZE).json --markdown report/qwen/peers-$(QWEN_SIZE).md

# Every artifact of MODEL on aarch64 under qemu against x86: a Cortex-A76 (Pi 5) by default,
# ARM_CPUS=a72,a76 adds the Pi 4's A72 (both cores are always probed for what the runtime sees)
ARM_CPUS ?= a76
ARM_CLIPS ?= 2
arm-check: artifacts
	$(BIN)/python bench/arm_check.py $(addprefix $(ART)-,$(PROFILES)) --manifest $(DATA)/manifest.jsonl \
	  --cpus $(ARM_CPUS) --clips $(ARM_CLIPS) --threads $(THREADS) --json $(RUNS)/arm_check.json

# Every profile built from the committed Qwen3-ASR test model, scored on the clean (Piper) and
# espeak-ng clips of the evaluation set: the Qwen3-ASR quantization table with real WER
report-qwen-fixture: $(STAMP) $(DATA)/manifest.jsonl
	$(MAKE) artifacts MODEL=$(QWEN_FIXTURE)
	$(BIN)/edgeasr bench --artifacts $(addprefix $(FIXTURE_ART)-,$(PROFILES)) --manifest $(DATA)/manifest.jsonl \
	  --kinds clean,espeak --target $(TARGET) --out runs/qwen3-asr-small --quiet
	$(BIN)/edgeasr report --runs runs/qwen3-asr-small --out report/qwen3-asr-small

# Retrain the small Qwen3-ASR-architecture test model (the committed copy lives in fixtures/)
FIXTURE_OUT ?= work/fixture-qwen
fixture-qwen: $(STAMP)
	$(BIN)/edgeasr fixture-qwen --out $(FIXTURE_OUT) --hours 6 --minutes 118 --seed 0

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
