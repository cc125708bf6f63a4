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
# Passed on only when the user set them (command line or environment), not from the defaults above:
# RESUME and CLONE keep the model's own track, preset and reward unless you name new ones.
user_opt = $(if $(filter-out file default undefined,$(origin $(1))),$(2) '$($(1))')
TRACK_FLAG = $(if $(TRACKS),--track '$(TRACKS)',$(call user_opt,TRACK,--track))
# The run spec's race options (training_params.yaml): RACE_TYPE=OBJECT_AVOIDANCE OBSTACLES=6 ...
RACE_FLAGS = $(call opt,RACE_TYPE,--race-type) $(if $(REVERSE),--reverse) $(if $(ALTERNATE_DIRECTION),--alternate-direction) \
	$(if $(DOMAIN_RANDOMIZATION),--domain-randomization) $(if $(ROBUST),--robust) $(call opt,OBSTACLES,--obstacles) \
	$(call opt,OBJECT_POSITIONS,--object-positions) $(if $(RANDOMIZE_OBSTACLES),--randomize-obstacles) \
	$(call opt,BOT_CARS,--bot-cars) $(call opt,BOT_SPEED,--bot-speed) $(if $(LANE_CHANGE),--lane-change)
TRAIN_FLAGS = $(TRACK_FLAG) $(call user_opt,REWARD,--reward) $(call user_opt,PRESET,--preset) --sims $(SIMS) \
	$(call opt,MODEL,--model) $(call opt,METADATA,--metadata) $(call opt,HYPERPARAMETERS,--hyperparameters) \
	$(call opt,EPISODES,--episodes) $(call opt,MINUTES,--minutes) $(call opt,CLONE,--clone) \
	$(if $(RESUME),--resume) $(call opt,MULTI_TRACK,--multi-track) $(RACE_FLAGS)

# Tracks: DEEPRACER_TRACKS (a folder of .npy files) if set, else the cache, else a download on first
# use. The tests read the 61 reference files from ../shared/tracks when that folder exists.
SHARED_TRACKS := $(wildcard $(abspath $(CURDIR)/../shared/tracks))
TEST_ENV = $(if $(DEEPRACER_TRACKS),,$(if $(SHARED_TRACKS),DEEPRACER_TRACKS=$(SHARED_TRACKS)))

comma := ,
# the name a model gets when MODEL is not given (the same rule as deepracer-local train)
DEFAULT_MODEL := $(basename $(notdir $(firstword $(subst $(comma), ,$(or $(TRACKS),$(TRACK))))))-$(shell date +%Y%m%d-%H%M%S)

# SIM_BACKEND=gazebo: the sims drive one car each in Gazebo sims (the sim-gazebo service, one per sim;
# compose mode only: their ROS connections run between containers). docs/gazebo.md
SIM_BACKEND ?= fast
# the backend of the stack that is up (make up writes it into compose/.env), for make scale
UP_SIM_BACKEND = $(shell sed -n 's/^DEEPRACER_SIM_BACKEND=//p' compose/.env 2>/dev/null)

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
DC = $(COMPOSE) $(COMPOSE_FILES) $(if $(wildcard compose/scenario.generated.yml),-f compose/scenario.generated.yml)
# the env files (compose reads STACK_ENV_FILE / S3_ADMIN_ENV_FILE from the environment too)
ENV_FILE = $(or $(STACK_ENV_FILE),compose/stack.env)
export S3_ADMIN_ENV_FILE := $(or $(S3_ADMIN_ENV_FILE),$(if $(STACK_ENV_FILE),$(dir $(STACK_ENV_FILE))s3-admin.env))

.PHONY: help install test test-quick tracks tracks-download check-reward render raceline bench-sim bench-train bench-scenario bench-ppo bench-laps bench-soak bench-swarm bench-transfer train evaluate pick video compare export import report \
	env-files doctor up down logs ps viewer scale s3-copy swarm-up swarm-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dart,notebook]"
	touch $(BIN)/activate

install: $(BIN)/activate  ## create .venv and install the project (and its test tools) into it

test: install  ## run every test (what CI runs; installs redis-server, chromium and chromium-driver with apt when missing, and fetches the public test models: scripts/fetch_test_models.py); the 25 slowest are listed at the end
	bash scripts/install-test-services.sh
	$(BIN)/python scripts/fetch_test_models.py
	$(TEST_ENV) $(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

test-quick: install  ## run the fast tests only
	bash scripts/install-test-services.sh
	$(BIN)/python scripts/fetch_test_models.py
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

tracks: install  ## list the tracks here (length, width, direction, folder or cache) and those that can be downloaded
	$(DRL) tracks

tracks-download: install  ## download the 61 standard tracks into the cache, each checked against its sha256 (ALL=1: the 135 of the manifest)
	$(DRL) tracks --download $(if $(ALL),--all)

check-reward: install  ## drive a built-in controller with REWARD=file on TRACK=name and report (EPISODES=3)
	$(DRL) reward-check $(REWARD) --track $(TRACK) --episodes $(or $(EPISODES),3)

train: install  ## SCENARIO=file: every model of a scenario file at once (presets/scenarios/); else train MODEL (default <track>-<date>) on TRACK (PRESET, REWARD, METADATA, HYPERPARAMETERS, SIMS; EPISODES= or MINUTES=; RESUME=1; CLONE=model; race: RACE_TYPE= OBSTACLES= BOT_CARS= REVERSE=1 ...); MODE=compose: in the Docker stack, MODE=local: without
ifneq ($(SCENARIO),)
ifeq ($(MODE),compose)
	@echo "make train: compose mode$(if $(filter file,$(origin MODE)), (a Docker engine answers)): every model of $(SCENARIO) in the Docker stack (one trainer and its sims per model); MODE=local trains without Docker"
	$(MAKE) up SCENARIO='$(SCENARIO)'
	$(BIN)/python -m stack.compose_scenario watch --scenario '$(SCENARIO)' --env-file '$(ENV_FILE)'
	$(MAKE) compare SCENARIO='$(SCENARIO)' MODE=compose
else
	@echo "make train: local mode$(if $(filter file,$(origin MODE)), (no Docker engine answers)): every model of $(SCENARIO) as processes on this machine"
	$(DRL) train --scenario '$(SCENARIO)' $(if $(RESUME),--resume)
endif
else ifeq ($(MODE),compose)
	@echo "make train: compose mode$(if $(filter file,$(origin MODE)), (a Docker engine answers)): the trainer and sims run in containers; MODE=local trains without Docker. Model: $(or $(MODEL),$(DEFAULT_MODEL))"
	$(MAKE) up MODEL='$(or $(MODEL),$(DEFAULT_MODEL))'
	$(DC) logs -f trainer
else ifeq ($(SIM_BACKEND),gazebo)
	$(error SIM_BACKEND=gazebo trains in the Docker stack only (MODE=compose, or make up ... SIM_BACKEND=gazebo): a Gazebo sim and its worker talk ROS between containers)
else
	@echo "make train: local mode$(if $(filter file,$(origin MODE)), (no Docker engine answers)): processes on this machine; MODE=compose runs the Docker stack"
	$(DRL) train $(TRAIN_FLAGS)
endif

env-files: install  ## make compose/stack.env and compose/s3-admin.env with random secrets (0600; keys already there are kept; STACK_ENV_FILE= / S3_ADMIN_ENV_FILE= elsewhere)
	$(BIN)/python -m stack.compose_launch env-file --path '$(ENV_FILE)' $(if $(S3_ADMIN_ENV_FILE),--admin-path '$(S3_ADMIN_ENV_FILE)')

doctor: install  ## check this host before `make up`: Docker and Compose versions, free disk, ports, the images the compose files name, env files (GPU=1: the NVIDIA runtime)
	$(BIN)/python -m stack.doctor --compose '$(COMPOSE)' $(if $(GPU),--gpu) -- $(COMPOSE_FILES)

up: env-files  ## start the compose stack: MODEL on TRACK (or TRACKS=a,b: sim i drives track i mod n) with SIMS sims (PRESET, REWARD, METADATA, HYPERPARAMETERS; EPISODES= or MINUTES=; RESUME=1; GPU=1; S3_SERVER=minio or S3_ENDPOINT=url; SIM_BACKEND=gazebo: each sim drives one car in a Gazebo sim of its own); SCENARIO=file: every model of a scenario, each its own trainer and sims, one Redis and S3 server
ifneq ($(SCENARIO),)
	$(BIN)/python -m stack.compose_scenario up --scenario '$(SCENARIO)' --compose '$(COMPOSE) $(COMPOSE_FILES)' --env-file '$(ENV_FILE)' $(if $(S3_ENDPOINT),--no-s3) $(if $(RESUME),--resume)
else
	$(if $(MODEL),,$(error MODEL=name is required))
	$(BIN)/python -m stack.compose_scenario forget
	$(if $(filter $(SIM_BACKEND),fast gazebo),,$(error SIM_BACKEND=$(SIM_BACKEND) is not one of fast, gazebo))
	printf 'DEEPRACER_MODEL=%s\nDEEPRACER_EPISODES=%s\nDEEPRACER_MINUTES=%s\nDEEPRACER_MULTI_TRACK=%s\nDEEPRACER_SIM_BACKEND=%s\n' '$(MODEL)' '$(EPISODES)' '$(MINUTES)' '$(or $(MULTI_TRACK),auto)' '$(SIM_BACKEND)' > compose/.env
	$(DC) up -d redis $(S3_SERVICE)
	$(BIN)/python -m stack.compose_launch upload --env-file '$(ENV_FILE)' --model $(MODEL) $(TRACK_FLAG) $(call user_opt,PRESET,--preset) $(call user_opt,REWARD,--reward) $(call opt,METADATA,--metadata) $(call opt,HYPERPARAMETERS,--hyperparameters) $(if $(RESUME),--resume) $(RACE_FLAGS)
	$(if $(filter gazebo,$(SIM_BACKEND)),$(DC) --profile gazebo up -d --build --scale sim-gazebo=$(SIMS) sim-gazebo)
	$(DC) up -d --build --scale sim=$(SIMS) trainer sim
endif
	$(if $(VIEWER),$(DC) --profile viewer up -d viewer && echo "viewer: http://127.0.0.1:$${VIEWER_PORT:-8100}/")

viewer: install  ## a page on http://127.0.0.1:8100/ showing training live (every sim's cars, a camera, the curves) for every model in models/ (MODE=compose: the stack's bucket; MODEL=a,b or SCENARIO=file to pick; PORT=)
	$(DRL) viewer $(call opt,MODEL,--model) $(call opt,SCENARIO,--scenario) $(STACK_FLAG) $(call opt,PORT,--port)

scale:  ## change the number of sims while training (SIMS=4; a scenario's model: MODEL=name SIMS=4; with SIM_BACKEND=gazebo the Gazebo sims too); a new sim joins at the next iteration
ifneq ($(and $(MODEL),$(wildcard compose/scenario.generated.yml)),)
	$(BIN)/python -m stack.compose_scenario scale --model '$(MODEL)' --sims $(SIMS) --compose '$(COMPOSE) $(COMPOSE_FILES)'
else
	$(if $(filter gazebo,$(UP_SIM_BACKEND)),$(DC) --profile gazebo up -d --no-recreate --scale sim-gazebo=$(SIMS) sim-gazebo)
	$(DC) up -d --no-recreate --scale sim=$(SIMS) sim
endif

s3-copy: install  ## copy model folders between two S3 endpoints, verified by size and sha256: FROM=http://host:port/bucket TO=... [MODELS=a,b] (keys: FROM_/TO_AWS_ACCESS_KEY_ID and _SECRET_ACCESS_KEY, else compose/stack.env)
	$(if $(and $(FROM),$(TO)),,$(error FROM=http://host:port/bucket and TO=... are required))
	$(BIN)/python -m stack.s3_copy --from '$(FROM)' --to '$(TO)' $(if $(MODELS),--models '$(MODELS)')

down:  ## stop the stack (models stay in the S3 volume; `docker-compose ... down -v` deletes them)
	$(DC) --profile viewer --profile gazebo down --remove-orphans

logs:  ## follow the stack's logs
	$(DC) logs -f --tail 100

ps:  ## the stack's containers (a scenario's: trainer-<model> and sim-<model>_<n> per model)
	$(DC) ps

swarm-up: env-files  ## deploy the stack on Docker Swarm: MODEL on TRACK with SIMS sims (PRESET, REWARD, METADATA, HYPERPARAMETERS; EPISODES= or MINUTES=; RESUME=1; SIMS_PER_NODE=; GPU=1; APP_IMAGE=registry/image for several machines)
	$(if $(MODEL),,$(error MODEL=name is required))
	$(if $(APP_IMAGE),,$(COMPOSE) -f compose/docker-compose.yml build trainer $(if $(GPU),&& $(COMPOSE) -f compose/docker-compose.yml -f compose/docker-compose.gpu.yml build trainer))
	MODEL='$(MODEL)' SIMS='$(SIMS)' TRACK=$(or $(subst --track ,,$(TRACK_FLAG)),'') PRESET=$(or $(subst --preset ,,$(call user_opt,PRESET,--preset)),'') REWARD=$(or $(subst --reward ,,$(call user_opt,REWARD,--reward)),'') METADATA='$(METADATA)' HYPERPARAMETERS='$(HYPERPARAMETERS)' EPISODES='$(EPISODES)' MINUTES='$(MINUTES)' RESUME='$(RESUME)' SIMS_PER_NODE='$(SIMS_PER_NODE)' GPU='$(GPU)' PYTHON=$(BIN)/python bash scripts/swarm.sh up

swarm-down:  ## remove the swarm stack (the models stay in its S3 volume)
	bash scripts/swarm.sh down

evaluate: install  ## race MODEL on TRACK: TRIALS=3 laps from the start line, a table per trial (CHECKPOINT=best|last|n; VIDEO=1: an MP4 per trial; BACKEND=gazebo: the same trials in the fast simulator and in a Gazebo sim side by side, in compose; BACKEND=dart: ... and in DART, the v6 reference's car; with VIDEO=1 an MP4 per trial of each)
	$(if $(filter $(or $(BACKEND),fast),fast gazebo dart),,$(error BACKEND=$(BACKEND) is not one of fast, gazebo, dart))
ifeq ($(BACKEND),gazebo)
	DC='$(DC)' bash scripts/gazebo-run.sh evaluate --model $(MODEL) $(call user_opt,TRACK,--track) --trials $(TRIALS) $(call opt,CHECKPOINT,--checkpoint) $(RACE_FLAGS) $(STACK_FLAG) $(if $(VIDEO),--video)
else
	$(DRL) evaluate --model $(MODEL) $(call user_opt,TRACK,--track) --trials $(TRIALS) $(call opt,CHECKPOINT,--checkpoint) $(RACE_FLAGS) $(STACK_FLAG) $(if $(VIDEO),--video) $(if $(filter dart,$(BACKEND)),--backend dart)
endif

video: install  ## an evaluation lap of MODEL on TRACK recorded as an MP4 (out/<model>/evaluation-<ts>/trial-1.mp4; TRIALS=1)
	$(DRL) evaluate --model $(MODEL) $(call user_opt,TRACK,--track) --trials $(if $(filter-out file default undefined,$(origin TRIALS)),$(TRIALS),1) $(call opt,CHECKPOINT,--checkpoint) $(RACE_FLAGS) $(STACK_FLAG) --video

compare: install  ## race models side by side: SCENARIO=file, or MODELS=a,b [TRACKS=x,y] [HELD_OUT=z] (TRIALS=3 CHECKPOINT=best); a table, out/compare-<name>/report.md and PNGs
	$(DRL) compare $(call opt,SCENARIO,--scenario) $(call opt,MODELS,--models) $(call opt,TRACKS,--tracks) $(call opt,HELD_OUT,--held-out) --trials $(TRIALS) $(call opt,CHECKPOINT,--checkpoint) $(STACK_FLAG)

pick: install  ## pick MODEL's checkpoint by racing: each of its last CHECKPOINTS=4 races TRIALS=20 laps in BACKEND=dart (the v6 reference's car; or fast) at SEED=1000 (evaluate's seeds stay held out); the one that laps most (a tie: the newer) is named; MARK=1: recorded as the model's best checkpoint, what export and CHECKPOINT=best take
	$(if $(filter $(or $(BACKEND),dart),fast dart),,$(error BACKEND=$(BACKEND) is not one of fast, dart (make pick)))
	$(DRL) pick --model '$(MODEL)' $(call user_opt,TRACK,--track) --backend $(or $(BACKEND),dart) --trials $(if $(filter-out file default undefined,$(origin TRIALS)),$(TRIALS),20) $(call opt,CHECKPOINTS,--checkpoints) $(call opt,SEED,--seed) $(if $(MARK),--mark) $(STACK_FLAG)

export: install  ## write out/MODEL-car.tar.gz for the physical car (CHECKPOINT=best by default); FORMAT=virtual: out/MODEL-virtual/ and .tar.gz, the model as deepracer-for-cloud and DeepRacer-on-AWS keep it (an rl_coach checkpoint)
	$(DRL) export --model $(MODEL) $(call opt,CHECKPOINT,--checkpoint) $(call opt,FORMAT,--format) $(STACK_FLAG)

import: install  ## FROM=<model folder | .tar.gz | s3://bucket/prefix> MODEL=name: a deepracer-for-cloud / DeepRacer-on-AWS model folder or a console / car tar.gz as a model folder in models/, its weights checked against its own frozen graph (CHECKPOINT=best; TRACK= when it names none)
	$(DRL) import --from '$(FROM)' --model '$(MODEL)' $(call opt,CHECKPOINT,--checkpoint) $(call user_opt,TRACK,--track)

report: install  ## write out/MODEL/training.png and evaluation-laps.png
	$(DRL) report --model $(MODEL) $(STACK_FLAG)

render: install  ## draw TRACK from above and its camera view to OUT=out/<track>.png
	$(DRL) render --track $(TRACK) --out $(OUT)

raceline: install  ## the racing line and reference lap time of TRACK under the simulator's car model: out/raceline-<track>/raceline.csv and raceline.png (cached per track and car model; DRIVE=1 also drives it in the simulator; BACKEND=dart: in the simulator and in DART, the v6 reference's car)
	$(if $(filter $(or $(BACKEND),fast),fast dart),,$(error BACKEND=$(BACKEND) is not one of fast, dart (make raceline)))
	$(DRL) raceline $(TRACK) $(call user_opt,OUT,--out) $(if $(DRIVE),--drive) $(if $(filter dart,$(BACKEND)),--backend dart)

bench-sim: install  ## simulator steps/s per sensor (CARS=256 SECONDS=5; BACKEND=dart: the cars moved by DART, try CARS=1; ROBUST=1: robust training's randomized cars and cameras)
	$(DRL) bench sim --cars $(CARS) --seconds $(SECONDS) $(if $(filter dart,$(BACKEND)),--backend dart) $(if $(ROBUST),--robust)

bench-scenario: install  ## COUNT models (PRESET=state) one after another, then at once as a scenario: wall time and total env steps/s of both (COUNT=3 EPISODES=1200)
	$(DRL) bench scenario --models $(or $(COUNT),3) --episodes $(or $(EPISODES),1200) --preset $(or $(PRESET),state) --track $(TRACK) --sims $(SIMS)

bench-train: install  ## time from scratch to 3 of 3 evaluation laps on TRACK (PRESET=state MINUTES=5)
	$(DRL) bench train --preset $(or $(PRESET),state) --minutes $(or $(MINUTES),5) --track $(TRACK) --sims $(SIMS)

bench-ppo: install  ## PPO update samples/s per network, float32 against mixed bfloat16 (SECONDS=5 per measurement)
	$(DRL) bench ppo --seconds $(SECONDS)

bench-laps: install  ## PRESET (default: the camera preset) from scratch on TRACK with the racing line's actions and reward: best evaluation lap after 15 and 30 min against the reference lap (MARKS=15,30,60)
	$(DRL) bench laps --preset $(PRESET) --track $(TRACK) --sims $(SIMS) $(call opt,MARKS,--marks)

bench-soak: install  ## PRESET (default state) trained MINUTES=60 from scratch: per tenth of the run the iteration time, the sims' storage share and the learner's and sims' memory; exits non-zero when the last tenth is 10% slower than the baseline tenth (the second, or the first that does the last tenth's work) or memory grew 10% since it
	$(DRL) bench soak --minutes $(or $(MINUTES),60) $(or $(call user_opt,PRESET,--preset),--preset state) $(call user_opt,TRACK,--track)

bench-swarm: install  ## training env steps/s on 1, 2 ... NODES=3 swarm nodes (this engine and Docker-in-Docker nodes on this machine, one sim each: on one machine the figure is the swarm's overhead, not scaling) and the time a new node's sim needs to join; MINUTES=2 per row; DEEPRACER_DOCKER_CI=1: the CI images
	$(BIN)/python scripts/bench_swarm.py --nodes $(or $(NODES),3) --minutes $(or $(MINUTES),2) $(call user_opt,TRACK,--track)

bench-transfer: install  ## camera models at racing speed (the racing line's actions and reward) trained MINUTES=30 each without and with robust training, and a STATE model; SPEED_SHARE=1 of the line's speeds; HP="num_epochs=3": hyperparameters set on top of the presets' files; each raced TRIALS=10 laps (with each of its last CHECKPOINTS=1 checkpoints at SEEDS=1 evaluation seeds; PICK=dart: only the checkpoint of the last CHECKPOINTS that laps most of PICK_TRIALS=20 selection laps in dart, and the last beside it) in the fast simulator, in DART and (GAZEBO=1, in compose) in Gazebo: laps, progress, best and mean lap, ratio to the fast simulator; out/bench-transfer/
ifeq ($(GAZEBO),1)
	DC='$(DC)' bash scripts/gazebo-run.sh bench transfer --minutes $(or $(MINUTES),30) --trials $(if $(filter-out file default undefined,$(origin TRIALS)),$(TRIALS),10) --track $(TRACK) $(if $(CHECKPOINTS),--checkpoints $(CHECKPOINTS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(SPEED_SHARE),--speed-share $(SPEED_SHARE)) $(foreach h,$(HP),--hp $(h)) $(if $(PICK),--pick-in $(PICK)) $(if $(PICK_TRIALS),--pick-trials $(PICK_TRIALS))
else
	$(DRL) bench transfer --minutes $(or $(MINUTES),30) --trials $(if $(filter-out file default undefined,$(origin TRIALS)),$(TRIALS),10) --track $(TRACK) $(if $(CHECKPOINTS),--checkpoints $(CHECKPOINTS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(SPEED_SHARE),--speed-share $(SPEED_SHARE)) $(foreach h,$(HP),--hp $(h)) $(if $(PICK),--pick-in $(PICK)) $(if $(PICK_TRIALS),--pick-trials $(PICK_TRIALS))
endif

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache out
