# Every target installs into .venv first if needed, so each works as the first command on a fresh clone
# (colab excepted: colab.py needs only the standard library, so it runs on a plain python3).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUFF_VERSION := 0.17.6  # the linter, pinned: a new release may add findings on its own
SEEDS  ?= 0 1 2 3 4 5 6 7 8 9
ITERATIONS := baseline batchnorm dropout gap capacity augment onecycle speed average final
ABLATIONS  := minus_batchnorm minus_dropout minus_capacity minus_augment minus_onecycle minus_weight_decay minus_average
CONTROLS   := onecycle_constant_lr onecycle_low_peak
DROPPED    := minus_nesterov onecycle_fixed_momentum
# the final recipe without the three parts that tie on it alone, taken away together (report.TOGETHER)
LEAN       := lean
MODELS ?= $(ITERATIONS) $(ABLATIONS) $(LEAN) $(CONTROLS) $(DROPPED)
JOBS   ?= 2

.PHONY: install train lint test test-fast notebook bench results readme photos colab lab clean

install: $(STAMP)

$(STAMP): requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt ruff==$(strip $(RUFF_VERSION))
	touch $@

train: $(STAMP)  ## get the data, train the final model into checkpoints/final.pt (runs/: its history)
	$(BIN)/python train.py --quiet --save checkpoints/final.pt --results runs/final_seed0.json

lint: $(STAMP)  ## ruff over the scripts, the tests and the notebook (settings: pyproject.toml)
	$(BIN)/ruff check .

test: lint  ## lint, then the whole suite: unit tests, the full final-recipe training, the notebook in smoke mode
	S6_SMOKE=1 $(BIN)/python -m pytest tests S6_MNIST.ipynb --nbval-lax --nbval-current-env --durations=10

test-fast: $(STAMP)  ## unit tests only (seconds)
	$(BIN)/python -m pytest tests -m "not slow"

notebook: $(STAMP)  ## execute the notebook top to bottom in full mode and store its outputs (minutes to half an hour on 2 CPU cores)
	$(BIN)/python -m jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 S6_MNIST.ipynb

results: $(STAMP)  ## every model in MODELS on each of SEEDS in turn (pairs finish together), JOBS at a time, 1 thread each (logs: runs/)
	@mkdir -p runs
	@for s in $(SEEDS); do for m in $(MODELS); do echo "$$m $$s"; done; done | xargs -P $(JOBS) -L 1 sh -c \
	  '$(BIN)/python train.py --quiet --threads 1 --model $$0 --seed $$1 --results results/$$0_seed$$1.json \
	   > runs/$$0_seed$$1.log 2>&1 && echo "$$0 seed $$1: $$(tail -n 1 runs/$$0_seed$$1.log)" \
	   || { echo "$$0 seed $$1 failed: see runs/$$0_seed$$1.log"; exit 255; }'

bench: $(STAMP)  ## time to 99.4 % against the reference pipeline; BENCH_JSON=path also writes JSON
	$(BIN)/python bench.py $(if $(BENCH_JSON),--json $(BENCH_JSON))

readme: $(STAMP)  ## rewrite the README's results section from results/
	$(BIN)/python report.py

photos: $(STAMP)  ## read photo-like MNIST digits per lighting condition (needs `make train`): results/photos.json, the README's table
	$(BIN)/python photos.py

colab:  ## point the Colab badges and the notebook's REPO_URL and BRANCH at this clone's remote and branch
	$(PYTHON) colab.py

lab: $(STAMP)  ## open the notebook in JupyterLab
	$(BIN)/python -m jupyter lab S6_MNIST.ipynb

clean:
	rm -rf $(VENV) .pytest_cache __pycache__ tests/__pycache__
