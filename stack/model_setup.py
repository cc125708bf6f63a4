"""One place where a model folder is set up, for every launcher (embedded `make train`, the compose
upload, the swarm upload).

``prepare_model`` validates everything the user asked for against what the folder (RESUME) or the
cloned model (CLONE) already holds, and writes nothing; ``ModelSetup.write`` then writes the folder's
configuration: ``reward_function.py``, ``model/model_metadata.json``, ``ip/hyperparameters.json``,
the tracks' route files (``tracks/<name>.npy``) and the run spec every sim reads,
``training_params.yaml`` (one more ``training_params_<i>.yaml`` per further track).

What comes from where:
- a new model: the files the user names, else the preset (``default``), else ``rewards/default.py``;
  track ``reinvent_base``; race options as given (time trial by default);
- RESUME (or CLONE=other): the model's (the other's) own metadata, hyperparameters, reward, tracks
  and race options, unless the user names new ones; new metadata must keep the sensors, network,
  action space and algorithm of the checkpoint (anything else could not restore it).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import (RACE_TYPES, ConfigError, Hyperparameters, ModelMetadata, TrainingParams,
                         check_model_name, check_override_keys, load_hyperparameters, load_model_metadata,
                         parse_hyperparameters, parse_model_metadata, preset_files, show_config_warnings)
from core.model_folder import ModelFolder, ModelLock
from simulation.car import effective_dynamics
from simulation.reward import IsolatedRewardFunction
from simulation.track import Track, load_tracks, store_tracks

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REWARD = ROOT / "rewards" / "default.py"
DEFAULT_TRACK = "reinvent_base"
DEFAULT_PRESET = "default"

#: Race options a user may give (TrainingParams attributes, the reference's run-spec keys).
RACE_OPTION_KEYS = ("race_type", "reverse_dir", "alternate_driving_direction", "enable_domain_randomization",
                    "number_of_obstacles", "object_positions", "randomize_obstacle_locations",
                    "min_distance_between_obstacles", "number_of_bot_cars", "bot_car_speed", "is_lane_change",
                    "min_distance_between_bot_cars", "randomize_bot_car_locations", "penalty_seconds",
                    "robust_training")


@dataclass
class SetupRequest:
    """What the user asked for; None means "not given" (a default, or the folder's own on RESUME/CLONE)."""

    model: str
    tracks: str | None = None
    reward: str | os.PathLike | None = None
    preset: str | None = None
    metadata: str | os.PathLike | None = None
    hyperparameters: str | os.PathLike | None = None
    race: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    clone: str | None = None
    episodes_between_training: int | None = None
    num_workers: int = 1
    #: single keys set on top of the hyperparameters / model_metadata chosen above (a scenario's inline
    #: overrides); validated with the rest, ``overrides_source`` names where they came from
    hyperparameter_overrides: dict[str, Any] = field(default_factory=dict)
    metadata_overrides: dict[str, Any] = field(default_factory=dict)
    overrides_source: str = "overrides"


@dataclass
class ModelSetup:
    """A validated model setup; ``write()`` puts it into the folder."""

    folder: ModelFolder
    metadata: ModelMetadata
    hp: Hyperparameters
    reward: bytes
    tracks: list[Track]
    params: list[TrainingParams]          # one run spec per track
    clone_folder: ModelFolder | None = None
    notes: list[str] = field(default_factory=list)   # what was taken from where, for the user

    def write(self) -> None:
        f = self.folder
        f.storage.put_bytes(f.reward_function(), self.reward)
        f.write_json(f.model_metadata(), self.metadata.to_json_dict())
        f.write_json(f.hyperparameters(), self.hp.to_json_dict())
        store_tracks(f, self.tracks)
        for i, params in enumerate(self.params):
            f.write_text(f.training_params(i), params.to_yaml())
        for stale in range(len(self.params), f.training_params_count()):   # fewer tracks than before
            f.storage.delete(f.training_params(stale))
        if f.storage.exists(f.stop_marker()):      # an early stop of an earlier run does not stop this one
            f.storage.delete(f.stop_marker())


def add_race_arguments(parser) -> None:
    """The run spec's race options as command-line flags (train, the compose upload, evaluate)."""
    g = parser.add_argument_group("race options (the run spec, training_params.yaml)")
    g.add_argument("--race-type", choices=RACE_TYPES, help="TIME_TRIAL (default), OBJECT_AVOIDANCE, HEAD_TO_BOT")
    g.add_argument("--reverse", action="store_true", default=None, help="drive the track the other way")
    g.add_argument("--alternate-direction", action="store_true", default=None,
                   help="alternate the driving direction every episode")
    g.add_argument("--domain-randomization", action="store_true", default=None,
                   help="vary lighting and colours of the camera image")
    g.add_argument("--obstacles", type=int, help="OBJECT_AVOIDANCE: number of boxes (default 6)")
    g.add_argument("--object-positions", help='OBJECT_AVOIDANCE: fixed boxes "lap_fraction,lane;..." (lane 1 or -1)')
    g.add_argument("--randomize-obstacles", action="store_true", default=None,
                   help="OBJECT_AVOIDANCE: new box positions every episode")
    g.add_argument("--bot-cars", type=int, help="HEAD_TO_BOT: number of bot cars (default 3)")
    g.add_argument("--bot-speed", type=float, help="HEAD_TO_BOT: bot car speed in m/s (default 0.2)")
    g.add_argument("--lane-change", action="store_true", default=None, help="HEAD_TO_BOT: bots change lanes")
    g.add_argument("--robust", action="store_true", default=None,
                   help="robust training: every episode each car draws its own steering response, grip, speed gain, "
                        "action latency and camera exposure, contrast, blur, noise and lighting (simulation/robust.py)")


def race_options_from_args(args) -> dict[str, Any]:
    """The race options given on the command line (run-spec attribute names); those not given are absent."""
    pairs = (("race_type", "race_type"), ("reverse_dir", "reverse"), ("alternate_driving_direction",
             "alternate_direction"), ("enable_domain_randomization", "domain_randomization"),
             ("number_of_obstacles", "obstacles"), ("randomize_obstacle_locations", "randomize_obstacles"),
             ("number_of_bot_cars", "bot_cars"), ("bot_car_speed", "bot_speed"), ("is_lane_change", "lane_change"),
             ("robust_training", "robust"))
    out = {key: getattr(args, arg) for key, arg in pairs if getattr(args, arg, None) is not None}
    if getattr(args, "object_positions", None):
        out["object_positions"] = tuple(_position(p) for p in args.object_positions.split(";") if p.strip())
    return out


def _position(text: str) -> tuple[float, int]:
    try:
        frac, lane = text.split(",")
        return float(frac), int(lane)
    except ValueError:
        raise ConfigError(f"OBJECT_POSITIONS entry {text!r} must be \"lap_fraction,lane\", e.g. 0.25,1") from None


def read_run_specs(folder: ModelFolder) -> list[TrainingParams]:
    """The folder's run specs (one per track), or [] when it has none."""
    specs = [TrainingParams.from_yaml(folder.read_text(folder.training_params(i)), source=folder.training_params(i))
             for i in range(folder.training_params_count())]
    show_config_warnings(*specs)          # unknown run-spec keys (kept, not used): say so once
    return specs


def folder_metadata(folder: ModelFolder) -> ModelMetadata:
    return parse_model_metadata(folder.read_json(folder.model_metadata()), source=folder.model_metadata())


def _check_compatible(theirs: ModelMetadata, ours: ModelMetadata, what: str) -> None:
    keys = ("sensors", "neural_network", "num_actions", "is_discrete", "training_algorithm")
    a, b = (tuple(getattr(m, k) for k in keys) for m in (theirs, ours))
    if a != b:
        raise ConfigError(f"{what}: its checkpoint has sensors {theirs.sensors}, network {theirs.neural_network}, "
                          f"{theirs.num_actions} {'discrete' if theirs.is_discrete else 'continuous'} actions "
                          f"({theirs.training_algorithm}); the model_metadata given has {ours.sensors}, "
                          f"{ours.neural_network}, {ours.num_actions} {'discrete' if ours.is_discrete else 'continuous'}"
                          f" actions ({ours.training_algorithm}). Keep the model's own (leave METADATA and PRESET "
                          "unset), or start a new MODEL")


def _reward_bytes(path: str | os.PathLike) -> bytes:
    """The user's reward file, loaded first as the sims will run it (a syntax error, a missing
    reward_function, a file it reads beside it: each shows now, naming the file)."""
    IsolatedRewardFunction(path)
    return Path(path).read_bytes()


def prepare_model(folder: ModelFolder, req: SetupRequest) -> ModelSetup:
    """Validate the request against the folder; nothing is written (see the module docstring)."""
    notes: list[str] = []
    check_model_name(req.model)
    if req.clone:
        check_model_name(req.clone, what="CLONE")
    ModelLock(folder).check(held_here_ok=True)   # another running training owns the folder: say so first
    has_checkpoint = folder.latest_checkpoint() is not None
    if req.resume and req.clone:
        raise ConfigError("RESUME=1 and CLONE=... exclude each other: resume continues MODEL, clone starts a new one")
    if req.resume and not has_checkpoint:
        raise ConfigError(f"cannot resume model {req.model!r}: no checkpoint in {folder.describe()}")
    if not req.resume and has_checkpoint:
        raise ConfigError(f"model {req.model!r} already has checkpoints in {folder.describe()}; use RESUME=1 to "
                          "continue it, or pick a new MODEL name (CLONE=<it> to start from it)")
    clone_folder = None
    if req.clone:
        clone_folder = ModelFolder(folder.storage, req.clone)
        if clone_folder.latest_checkpoint() is None:
            raise ConfigError(f"cannot clone model {req.clone!r}: no checkpoint in {clone_folder.describe()}")
    base = folder if req.resume else clone_folder
    base_what = f"model {req.model!r} (RESUME)" if req.resume else f"model {req.clone!r} (CLONE)"

    # model_metadata and hyperparameters: named files > a named preset > the base's own > the default preset
    md_path, hp_path = preset_files(req.preset or DEFAULT_PRESET)
    if req.metadata or req.preset or base is None:
        metadata = load_model_metadata(req.metadata or md_path)
    else:
        metadata = folder_metadata(base)
        notes.append(f"model_metadata.json from {base_what}")
    if req.metadata_overrides:
        check_override_keys(req.metadata_overrides, "model_metadata", req.overrides_source)
        metadata = parse_model_metadata({**metadata.to_json_dict(), **req.metadata_overrides},
                                        source=f"{req.overrides_source} model_metadata")
    if base is not None and (req.metadata or req.preset or req.metadata_overrides):
        _check_compatible(folder_metadata(base), metadata, base_what)
    if req.hyperparameters or req.preset or base is None:
        hp = load_hyperparameters(req.hyperparameters or hp_path)
    else:
        hp = parse_hyperparameters(base.read_json(base.hyperparameters()), source=base.hyperparameters())
        notes.append(f"hyperparameters.json from {base_what}")
    if req.hyperparameter_overrides:
        check_override_keys(req.hyperparameter_overrides, "hyperparameters", req.overrides_source)
        hp = parse_hyperparameters({**hp.to_json_dict(), **req.hyperparameter_overrides},
                                   source=f"{req.overrides_source} hyperparameters")
        show_config_warnings(hp)
    if req.episodes_between_training is not None:
        if req.episodes_between_training < 1:
            raise ConfigError(f"episodes between training must be >= 1, got {req.episodes_between_training}")
        hp = dataclasses.replace(hp, num_episodes_between_training=int(req.episodes_between_training))

    # the reward function
    if req.reward or base is None:
        reward = _reward_bytes(req.reward or DEFAULT_REWARD)
    else:
        reward = base.storage.get_bytes(base.reward_function())
        IsolatedRewardFunction(reward, display_path=f"{base.reward_function()} ({base.storage.describe()})")
        notes.append(f"reward_function.py from {base_what}")

    # tracks and race options: given > the base's run specs > defaults
    base_specs = read_run_specs(base) if base is not None else []
    if req.tracks:
        tracks = load_tracks(req.tracks)
    elif base_specs:
        tracks = [Track.from_model_folder(base, p.world_name) for p in base_specs]
        notes.append(f"track(s) {', '.join(t.name for t in tracks)} from {base_what}")
    else:
        tracks = load_tracks(DEFAULT_TRACK)
    unknown = sorted(set(req.race) - set(RACE_OPTION_KEYS))
    if unknown:
        raise ConfigError(f"unknown race option(s) {', '.join(unknown)}; allowed: {', '.join(RACE_OPTION_KEYS)}")
    race = {k: getattr(base_specs[0], k) for k in RACE_OPTION_KEYS} if base_specs else {}
    race.update(req.race)
    # the car model: DEEPRACER_DYNAMICS when set, else the base's (recorded or, for an older folder, the one it
    # must have trained with), else the default; recorded in every run spec
    trained = base_specs[0].trained_car_dynamics if base_specs else ""
    dynamics = effective_dynamics(trained)
    if trained and dynamics != trained:
        notes.append(f"car model {dynamics} (DEEPRACER_DYNAMICS; {base_what} trained with {trained})")
    elif trained:
        notes.append(f"car model {dynamics} from {base_what}")
    params = [folder.new_training_params(world_name=t.name, num_workers=max(1, req.num_workers),
                                         car_dynamics=dynamics, **race)
              for t in tracks]
    return ModelSetup(folder, metadata, hp, reward, tracks, params, clone_folder, notes)


__all__ = ["SetupRequest", "ModelSetup", "prepare_model", "read_run_specs", "folder_metadata", "RACE_OPTION_KEYS",
           "add_race_arguments", "race_options_from_args"]
