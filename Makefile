# deepracer-local: the user interface. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DRL := $(BIN)/deepracer-local

TRACK ?= reinvent_base
REWARD ?= rewards/default.py
OUT ?= out/$(TRACK).png
CARS ?= 256
SECONDS ?= 5
PRESET ?= default
SIMS ?= 1
TRIALS ?= 3
CHECKPOINT ?=
PYTEST_ARGS ?=

# Optional flags, passed on only when set (make train MODEL=m EPISODES=200 ...)
opt = $(if $($(1)),$(2) $($(1)))
TRAIN_FLAGS = --track $(TRACK) --reward $(REWARD) --preset $(PRESET) --sims $(SIMS) \
	$(call opt,MODEL,--model) $(call opt,METADATA,--metadata) $(call opt,HYPERPARAMETERS,--hyperparameters) \
	$(call opt,EPISODES,--episodes) $(call opt,MINUTES,--minutes) $(call opt,CLONE,--clone) \
	$(if $(RESUME),--resume)

# Tracks: DEEPRACER_TRACKS (a folder of .npy files) if set, else the cache, else a download on first
# use. The tests read the 61 reference files from ../shared/tracks when that folder exists.
SHARED_TRACKS := $(wildcard $(abspath $(CURDIR)/../shared/tracks))
TEST_ENV = $(if $(DEEPRACER_TRACKS),,$(if $(SHARED_TRACKS),DEEPRACER_TRACKS=$(SHARED_TRACKS)))

COMPOSE ?= docker-compose
# `make train` uses the Docker stack when an engine answers; MODE=local or MODE=compose decides.
MODE ?= $(shell docker info >/dev/null 2>&1 && echo compose || echo local)
# evaluate / export / report read the model from the stack's bucket in compose mode
STACK_FLAG = $(if $(filter compose,$(MODE)),--stack)
# The S3 server: S3_SERVER=seaweedfs (default) or minio (archived, unpatched: images/README.md), or
# none at all with S3_ENDPOINT=https://... (an external server; keys in compose/stack.env).
S3_SERVER ?= seaweedfs
S3_ENDPOINT ?=
export S3_ENDPOINT
S3_FILES = $(if $(S3_ENDPOINT),,-f compose/s3-$(S3_SERVER).yml)
S3_SERVICE = $(if $(S3_ENDPOINT),,s3)
# DEEPRACER_DOCKER_CI=1: the images CI makes without a registry (compose/docker-compose.ci.yml)
COMPOSE_FILES = -f compose/docker-compose.yml $(S3_FILES) $(if $(GPU),-f compose/docker-compose.gpu.yml) \
	$(if $(filter 1,$(DEEPRACER_DOCKER_CI)),-f compose/docker-compose.ci.yml)
DC = $(COMPOSE) $(COMPOSE_FILES)

.PHONY: help install test test-quick tracks tracks-download check-reward render bench-sim bench-train train evaluate export report \
	env-files doctor up down logs ps scale s3-copy swarm-up swarm-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/activate

install: $(BIN)/activate  ## create .venv and install the project (and its test tools) into it

test: install  ## run every test (what CI runs; installs redis-server with apt when missing)
	bash scripts/install-test-services.sh
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

test-quick: install  ## run the fast tests only
	bash scripts/install-test-services.sh
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

tracks: install  ## list the tracks here (length, width, direction, folder or cache) and those that can be downloaded
	$(DRL) tracks

tracks-download: install  ## download the 61 standard tracks into the cache, each checked against its sha256 (ALL=1: the 135 of the manifest)
	$(DRL) tracks --download $(if $(ALL),--all)

check-reward: install  ## drive a built-in controller with REWARD=file on TRACK=name and report (EPISODES=3)
	$(DRL) reward-check $(REWARD) --track $(TRACK) --episodes $(or $(EPISODES),3)

train: install  ## train MODEL on TRACK (PRESET, REWARD, METADATA, HYPERPARAMETERS, SIMS; EPISODES= or MINUTES=; RESUME=1; CLONE=model; MODE=compose: in the Docker stack)
ifeq ($(MODE),compose)
	$(MAKE) up
	$(DC) logs -f trainer
else
	$(DRL) train $(TRAIN_FLAGS)
endif

env-files: install  ## make compose/stack.env and compose/s3-admin.env with random secrets (0600; keys already there are kept)
	$(BIN)/python -m stack.compose_launch env-file --path compose/stack.env

doctor: install  ## check this host before `make up`: Docker and Compose versions, free disk, ports, the images the compose files name, env files (GPU=1: the NVIDIA runtime)
	$(BIN)/python -m stack.doctor --compose '$(COMPOSE)' $(if $(GPU),--gpu) -- $(COMPOSE_FILES)

up: env-files  ## start the compose stack: MODEL on TRACK (or TRACKS=a,b: sim i drives track i mod n) with SIMS sims (PRESET, REWARD, METADATA, HYPERPARAMETERS; EPISODES= or MINUTES=; RESUME=1; GPU=1; S3_SERVER=minio or S3_ENDPOINT=url)
	$(if $(MODEL),,$(error MODEL=name is required))
	printf 'DEEPRACER_MODEL=%s\nDEEPRACER_TRACK=%s\nDEEPRACER_EPISODES=%s\nDEEPRACER_MINUTES=%s\n' '$(MODEL)' '$(or $(TRACKS),$(TRACK))' '$(EPISODES)' '$(MINUTES)' > compose/.env
	$(DC) up -d redis $(S3_SERVICE)
	$(BIN)/python -m stack.compose_launch upload --model $(MODEL) --track $(or $(TRACKS),$(TRACK)) --preset $(PRESET) --reward $(REWARD) $(call opt,METADATA,--metadata) $(call opt,HYPERPARAMETERS,--hyperparameters) $(if $(RESUME),--resume)
	$(DC) up -d --build --scale sim=$(SIMS)

scale:  ## change the number of sims while training (SIMS=4); a new sim joins at the next iteration
	$(DC) up -d --no-recreate --scale sim=$(SIMS)

s3-copy: install  ## copy model folders between two S3 endpoints, verified by size and sha256: FROM=http://host:port/bucket TO=... [MODELS=a,b] (keys: FROM_/TO_AWS_ACCESS_KEY_ID and _SECRET_ACCESS_KEY, else compose/stack.env)
	$(if $(and $(FROM),$(TO)),,$(error FROM=http://host:port/bucket and TO=... are required))
	$(BIN)/python -m stack.s3_copy --from '$(FROM)' --to '$(TO)' $(if $(MODELS),--models '$(MODELS)')

down:  ## stop the stack (models stay in the S3 volume; `docker-compose ... down -v` deletes them)
	$(DC) down --remove-orphans

logs:  ## follow the stack's logs
	$(DC) logs -f --tail 100

ps:  ## the stack's containers
	$(DC) ps

swarm-up: env-files  ## deploy the stack on Docker Swarm: MODEL on TRACK with SIMS sims (PRESET, REWARD, METADATA, HYPERPARAMETERS; EPISODES= or MINUTES=; RESUME=1; GPU=1; APP_IMAGE=registry/image for several machines)
	$(if $(MODEL),,$(error MODEL=name is required))
	$(if $(APP_IMAGE),,$(COMPOSE) -f compose/docker-compose.yml build trainer $(if $(GPU),&& $(COMPOSE) -f compose/docker-compose.yml -f compose/docker-compose.gpu.yml build trainer))
	MODEL='$(MODEL)' SIMS='$(SIMS)' TRACK='$(or $(TRACKS),$(TRACK))' PRESET='$(PRESET)' REWARD='$(REWARD)' METADATA='$(METADATA)' HYPERPARAMETERS='$(HYPERPARAMETERS)' EPISODES='$(EPISODES)' MINUTES='$(MINUTES)' RESUME='$(RESUME)' GPU='$(GPU)' PYTHON=$(BIN)/python bash scripts/swarm.sh up

swarm-down:  ## remove the swarm stack (the models stay in its S3 volume)
	bash scripts/swarm.sh down

evaluate: install  ## race MODEL on TRACK: TRIALS=3 laps from the start line, a table per trial (CHECKPOINT=best|last|n)
	$(DRL) evaluate --model $(MODEL) --track $(TRACK) --trials $(TRIALS) $(call opt,CHECKPOINT,--checkpoint) $(STACK_FLAG)

export: install  ## write out/MODEL-car.tar.gz for the physical car (CHECKPOINT=best by default)
	$(DRL) export --model $(MODEL) $(call opt,CHECKPOINT,--checkpoint) $(STACK_FLAG)

report: install  ## write out/MODEL/training.png and evaluation-laps.png
	$(DRL) report --model $(MODEL) $(STACK_FLAG)

render: install  ## draw TRACK from above and its camera view to OUT=out/<track>.png
	$(DRL) render --track $(TRACK) --out $(OUT)

bench-sim: install  ## simulator steps/s per sensor (CARS=256 SECONDS=5)
	$(DRL) bench sim --cars $(CARS) --seconds $(SECONDS)

bench-train: install  ## time from scratch to 3 of 3 evaluation laps on TRACK (PRESET=state MINUTES=5)
	$(DRL) bench train --preset $(or $(PRESET),state) --minutes $(or $(MINUTES),5) --track $(TRACK) --sims $(SIMS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache out
