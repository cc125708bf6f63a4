# deepracer-local: the user interface. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DRL := $(BIN)/deepracer-local

TRACK ?= reinvent_base
REWARD ?= rewards/default.py
EPISODES ?= 3
OUT ?= out/$(TRACK).png
CARS ?= 256
SECONDS ?= 5
PYTEST_ARGS ?=

.PHONY: help install test test-quick tracks check-reward render bench-sim clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/activate

install: $(BIN)/activate  ## create .venv and install the project (and its test tools) into it

test: install  ## run every test (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-quick: install  ## run the fast tests only
	$(BIN)/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

tracks: install  ## list every track with length, width and direction
	$(DRL) tracks

check-reward: install  ## drive a built-in controller with REWARD=file on TRACK=name and report (EPISODES=3)
	$(DRL) reward-check $(REWARD) --track $(TRACK) --episodes $(EPISODES)

render: install  ## draw TRACK from above and its camera view to OUT=out/<track>.png
	$(DRL) render --track $(TRACK) --out $(OUT)

bench-sim: install  ## simulator steps/s per sensor (CARS=256 SECONDS=5)
	$(DRL) bench sim --cars $(CARS) --seconds $(SECONDS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache out
