# Every target installs into .venv first if needed, so each works as the first command on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SEEDS  ?= 0 1 2 3 4
MODELS ?= tiny accurate

.PHONY: install train test test-fast notebook prose bench results readme clean

install: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

train: $(STAMP)  ## get the data, train the final model, print the result
	$(BIN)/python train.py --quiet --results results/final_seed0.json

test: $(STAMP)  ## the whole suite: unit tests, the full final-recipe training, the notebook in smoke mode
	S6_SMOKE=1 $(BIN)/python -m pytest tests S6_MNIST.ipynb --nbval-lax --nbval-current-env

test-fast: $(STAMP)  ## unit tests only (seconds)
	$(BIN)/python -m pytest tests -m "not slow"

notebook: $(STAMP)  ## execute the notebook top to bottom in full mode and store its outputs (tens of minutes)
	$(BIN)/python -m jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 S6_MNIST.ipynb
	$(MAKE) prose

prose: $(STAMP)  ## rewrite the notebook's analysis prose from results/ (after `make bench` or `make results`)
	$(BIN)/python tests/notebook_prose.py

results: $(STAMP)  ## every seed of each model in MODELS (results/<model>_seed<N>.json; the README table and plot)
	for m in $(MODELS); do for s in $(SEEDS); do \
	  $(BIN)/python train.py --quiet --model $$m --seed $$s --results results/$${m}_seed$$s.json || exit 1; \
	done; done

bench: $(STAMP)  ## time to 99.4 % against the reference pipeline; BENCH_JSON=path also writes JSON
	$(BIN)/python bench.py $(if $(BENCH_JSON),--json $(BENCH_JSON))

readme: $(STAMP)  ## rewrite the README's results section from results/
	$(BIN)/python -c "import utils; utils.write_readme_results()"

clean:
	rm -rf $(VENV) .pytest_cache __pycache__ tests/__pycache__
