# make demo: set up .venv and run the main job; make test: set up and run the test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := pyproject.toml setup.py $(wildcard neurocodec/entropy/csrc/*.h neurocodec/entropy/csrc/*.cpp)

.PHONY: install test test-all demo bench clean

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

demo: $(STAMP)
	$(BIN)/neurocodec demo

bench: $(STAMP)
	$(BIN)/python benchmarks/entropy.py

clean:
	rm -rf build *.egg-info neurocodec/entropy/*.so

# make train-continue NAME=hyperprior MINUTES=60: train a shipped image model further with the
# recipe study's winner, resuming runs/continue/NAME across sessions (from checkpoints/NAME.pt
# when that run is gone), in the background; then measure it with scripts/model_card.py.
# make recipe-study: the equal-CPU recipe arms (results/recipe/study.json).
# make gpu-burst: on a lent GPU, continue the shipped models for MINUTES each and write the
# exported weights and quick cards into $$OUT (scripts/gpu_burst.sh says how to call it).
NAME ?= hyperprior
MINUTES ?= 60
.PHONY: train-continue recipe-study gpu-burst
train-continue: $(STAMP)
	mkdir -p runs
	nohup $(BIN)/python scripts/train_continue.py $(NAME) --minutes $(MINUTES) > runs/continue-$(NAME).log 2>&1 &
	@echo "training $(NAME) for $(MINUTES) CPU minutes in the background: runs/continue-$(NAME).log"

recipe-study: $(STAMP)
	$(BIN)/python scripts/recipe_study.py

gpu-burst:
	bash scripts/gpu_burst.sh

# make results: Kodak rate-distortion of the shipped models and the classical baselines (all 24
# images; re-runs skip finished entries), then the README's RD figure and BD-rate table.
RESULTS_DIR ?= results/kodak
RESULTS_MODELS ?= hyperprior,gmm,shallow-2l,shallow-jpeg,mambaic
RESULTS_BASELINES ?= jpeg,jpeg-444,webp,avif,hevc-intra,av1-intra
RESULTS_WORKERS ?= 1
RESULTS_FIGURE ?= notebooks/figures/kodak_rd.png
RESULTS_TABLE ?= notebooks/figures/kodak_bd.md
.PHONY: results
results: $(STAMP)
	$(BIN)/neurocodec eval --modality image --data kodak --codecs $(RESULTS_MODELS),$(RESULTS_BASELINES) \
		--out $(RESULTS_DIR) --workers $(RESULTS_WORKERS) --skip-unavailable
	$(BIN)/neurocodec plot $(RESULTS_DIR)/kodak-*.json -o $(RESULTS_FIGURE) --xmax 2 --title "Kodak (24 images)" \
		--table $(RESULTS_TABLE) --all-rows \
		--anchors "hyperprior,jpeg,webp,avif,hevc-intra,av1-intra,BPG 0.9.8 444 x265 YCbCr,compressai mbt2018-mean mse"
	$(BIN)/python scripts/readme_results.py $(RESULTS_TABLE) README.md $(RESULTS_MODELS) $(RESULTS_DIR)

# make results-refine: iterative encoding (SGA) on a Kodak subset (the first 4 images, qualities
# 1, 3, 6; 500 steps cost minutes per image on a CPU): each codec with 100 and 500 refine steps
# beside itself unrefined, on one thread; gmm's 500 steps (about 0.8 s per step on a whole Kodak image,
# 7 minutes per image and level) on the first 2 images only. BD tables: notebooks/image_complexity.ipynb
# (a variant on fewer images is compared on those), or scripts/model_card.py --update-refined.
REFINE_DIR ?= results/kodak-refine
REFINE_MODELS ?= hyperprior shallow-2l gmm
REFINE500_LIMIT_gmm ?= 2
.PHONY: results-refine
results-refine: $(STAMP)
	for m in $(REFINE_MODELS); do for c in $$m $$m+refine100 $$m+refine500; do \
		limit=4; case $$c in gmm+refine500) limit=$(REFINE500_LIMIT_gmm);; esac; \
		OMP_NUM_THREADS=1 $(BIN)/neurocodec eval --modality image --data kodak --limit $$limit --qualities 1,3,6 \
			--codecs $$c --out $(REFINE_DIR) --workers 1 --skip-unavailable || exit 1; done; done

# make results-audio: LibriSpeech rate-distortion (librispeech-eval: the 106 utterances of
# test-other, test-clean and dev-clean) of the audio models and the classical speech codecs
# (re-runs skip finished entries), then the RD figure, the BD-rate table against Opus, and the
# README's table.
# PESQ and STOI need the audio-metrics extra.
AUDIO_RESULTS_DIR ?= results/librispeech
AUDIO_MODELS ?= dac,snac
AUDIO_BASELINES ?= opus,mp3,aac
AUDIO_FIGURE ?= notebooks/figures/librispeech_rd.png
AUDIO_TABLE ?= notebooks/figures/librispeech_bd.md
.PHONY: results-audio
results-audio: $(STAMP)
	@$(BIN)/python -c "import pesq, pystoi" 2>/dev/null || { echo "results-audio needs PESQ and STOI:" \
		"$(BIN)/python -m pip install -e '.[audio-metrics]'"; exit 1; }
	$(BIN)/neurocodec eval --modality audio --data librispeech-eval --codecs $(AUDIO_MODELS),$(AUDIO_BASELINES) \
		--out $(AUDIO_RESULTS_DIR) --workers $(RESULTS_WORKERS) --skip-unavailable
	$(BIN)/neurocodec plot $(AUDIO_RESULTS_DIR)/librispeech-eval-*.json -o $(AUDIO_FIGURE) \
		--title "LibriSpeech test-other + test-clean + dev-clean (106 utterances)" \
		--table $(AUDIO_TABLE) --anchors opus
	$(BIN)/python scripts/readme_audio_results.py $(AUDIO_RESULTS_DIR) $(AUDIO_TABLE) README.md $(AUDIO_MODELS)

# make results-video: video rate-distortion (video-eval: BasketballPass and Big Buck Bunny (first 96
# frames), bus, foreman QCIF, CiscoVT2people 320x192 and park_joy 90p, whole) of hytip, hyperprior
# coding every frame, x264 medium / veryslow, x265 medium and x264 all-intra, intra period 32
# (re-runs skip finished entries); then the RD figure and the BD-rate tables against x264 medium
# (mean curves, and per clip with their mean).
VIDEO_RESULTS_DIR ?= results/video
VIDEO_MODELS ?= hytip,hyperprior-intra
VIDEO_BASELINES ?= x264-medium,x264-veryslow,x265-medium,x264-intra
VIDEO_GOP ?= 32
VIDEO_FIGURE ?= notebooks/figures/video_rd.png
VIDEO_TABLE ?= notebooks/figures/video_bd.md
.PHONY: results-video
results-video: $(STAMP)
	$(BIN)/neurocodec eval --modality video --data video-eval --codecs $(VIDEO_MODELS),$(VIDEO_BASELINES) \
		--gop $(VIDEO_GOP) --out $(VIDEO_RESULTS_DIR) --workers $(RESULTS_WORKERS) --skip-unavailable
	$(BIN)/neurocodec plot $(VIDEO_RESULTS_DIR)/video-eval-*.json -o $(VIDEO_FIGURE) \
		--title "video-eval (6 clips, intra period $(VIDEO_GOP))" \
		--table $(VIDEO_TABLE) --anchors x264-medium --per-item
