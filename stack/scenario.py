"""Scenario files: several models (scenario 2) or several tracks (scenario 3) trained at once.

A scenario is a YAML file, validated here into typed objects; every error names the file, the model
and the key. It is a list of the one model setup every launcher uses (stack.model_setup): each model
becomes a ``TrainRequest`` (embedded) or a run spec in the stack, nothing parallel to them.

Layout::

    name: lr-sweep                  # optional (default: the file's stem); names out/<name>/
    defaults:                       # optional: keys every model starts from
      track: reinvent_base          # or tracks: [a, b] (one model trained on several tracks)
      preset: state                 # a folder of presets/ (model_metadata + hyperparameters)
      model_metadata_file: path     # instead of the preset's
      hyperparameters_file: path
      reward: rewards/default.py
      model_metadata: {...}         # single keys on top (e.g. action_space, sensor)
      hyperparameters: {lr: 0.0003} # single keys on top
      race: {race_type: TIME_TRIAL} # run-spec race options (stack.model_setup.RACE_OPTION_KEYS)
      sims: 1
      episodes: 400                 # the budget: episodes or minutes (exactly one)
      minutes: 20
      seed: 0
      multi_track: auto             # several tracks: own, spread or auto (see make train MULTI_TRACK=)
      sim_backend: fast             # or gazebo: each sim drives one car in a Gazebo sim of the model's
                                    # own (compose mode only: make up / make train SCENARIO=... MODE=compose)
    models:                         # one entry per model: a name and any key of ``defaults``
      - name: lr-high
        hyperparameters: {lr: 0.001}
    compare:                        # optional: what `make compare` and the end of a run evaluate
      held_out: [reInvent2019_track]
      trials: 3
    early_stop:                     # optional: successive halving
      at: [0.25, 0.5]               # fractions of the budget where the worst models stop
      keep: 0.5                     # the share of the running models that goes on at each point

The mapping keys (model_metadata, hyperparameters, race) merge key by key from the defaults into
each model; every other key of a model replaces the default's. Relative paths are looked up from the
scenario file's folder, then from the current folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.config import ConfigError, check_model_name, closest_key

from simulation.worker import SIM_BACKENDS

from .model_setup import RACE_OPTION_KEYS
from .train import DEFAULT_MODELS_DIR, TrainRequest

#: Keys a model (or ``defaults``) may have.
MODEL_KEYS = ("name", "track", "tracks", "preset", "model_metadata_file", "hyperparameters_file", "reward",
              "model_metadata", "hyperparameters", "race", "sims", "episodes", "minutes", "seed", "multi_track",
              "sim_backend")
TOP_KEYS = ("name", "defaults", "models", "compare", "early_stop")
COMPARE_KEYS = ("held_out", "trials", "checkpoint")
EARLY_STOP_KEYS = ("at", "keep")
_MAPPING_KEYS = ("model_metadata", "hyperparameters", "race")
_PATH_KEYS = ("model_metadata_file", "hyperparameters_file", "reward")


@dataclass(frozen=True)
class ModelSpec:
    """One model of a scenario, every default applied."""

    name: str
    tracks: tuple[str, ...]
    preset: str | None = None
    metadata_file: Path | None = None
    hyperparameters_file: Path | None = None
    reward: Path | None = None
    metadata_overrides: dict[str, Any] = field(default_factory=dict)
    hyperparameter_overrides: dict[str, Any] = field(default_factory=dict)
    race: dict[str, Any] = field(default_factory=dict)
    sims: int = 1
    episodes: int | None = None
    minutes: float | None = None
    seed: int = 0
    multi_track: str = "auto"
    #: simulation.worker.SIM_BACKENDS: "fast", or "gazebo" (compose mode: Gazebo sims of the model's own)
    sim_backend: str = "fast"

    def train_request(self, source: str, models_dir: Path = DEFAULT_MODELS_DIR, resume: bool = False) -> TrainRequest:
        """The embedded training of this model (stack.train)."""
        return TrainRequest(
            track=",".join(self.tracks), model=self.name, reward=self.reward, preset=self.preset,
            metadata=self.metadata_file, hyperparameters=self.hyperparameters_file, sims=self.sims,
            episodes=self.episodes, minutes=self.minutes, resume=resume, models_dir=models_dir, seed=self.seed,
            race=dict(self.race), hyperparameter_overrides=dict(self.hyperparameter_overrides),
            metadata_overrides=dict(self.metadata_overrides), overrides_source=f"{source}: model {self.name!r}",
            multi_track=self.multi_track)

    @property
    def budget(self) -> str:
        return f"{self.episodes} episodes" if self.episodes is not None else f"{self.minutes:g} min"


@dataclass(frozen=True)
class CompareSpec:
    held_out: tuple[str, ...] = ()
    trials: int = 3
    checkpoint: str | int = "best"


@dataclass(frozen=True)
class EarlyStop:
    """Successive halving: at each fraction of the budget in ``at``, the running models are ranked by
    their latest evaluation progress and only the best ``keep`` share of them (at least one) goes on."""

    at: tuple[float, ...]
    keep: float = 0.5

    def survivors(self, running: int) -> int:
        """How many of ``running`` models go on past a stop point."""
        return max(1, math.ceil(running * self.keep))


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str                     # the file, for messages
    models: tuple[ModelSpec, ...]
    compare: CompareSpec = CompareSpec()
    early_stop: EarlyStop | None = None

    @property
    def tracks(self) -> tuple[str, ...]:
        """Every track a model of the scenario trains on, in first-seen order."""
        seen: dict[str, None] = {}
        for m in self.models:
            seen.update(dict.fromkeys(m.tracks))
        return tuple(seen)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"{self.source}: no model {name!r} (models: {', '.join(m.name for m in self.models)})")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"scenario file {str(path)!r} not found (examples: presets/scenarios/*.yaml)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_scenario(data, source=str(p), base_dir=p.parent)


def parse_scenario(data: Any, source: str = "scenario", base_dir: Path | None = None) -> Scenario:
    where = source
    _mapping(data, where)
    _known(data, TOP_KEYS, where)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name must be a non-empty string, got {name!r}")
    check_model_name(name, what=f"{where}: scenario name")
    defaults = data.get("defaults") or {}
    _mapping(defaults, f"{where}: defaults")
    _known(defaults, MODEL_KEYS, f"{where}: defaults")
    if "name" in defaults:
        raise ConfigError(f"{where}: defaults: 'name' belongs to each model, not to the defaults")
    models_raw = data.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError(f"{where}: 'models' must be a list of at least one model (each a mapping with a name)")
    models = []
    for i, raw in enumerate(models_raw):
        models.append(_model(raw, defaults, i, where, base_dir))
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: model name(s) {', '.join(dupes)} appear more than once; each model needs its own")
    return Scenario(name, source, tuple(models), _compare(data.get("compare"), where), _early_stop(data.get("early_stop"), where))


def _model(raw: Any, defaults: dict, index: int, where: str, base_dir: Path | None) -> ModelSpec:
    label = f"{where}: models[{index}]"
    _mapping(raw, label)
    if "name" not in raw:
        raise ConfigError(f"{label}: every model needs a 'name'")
    name = raw["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{label}: name must be a string, got {name!r}")
    label = f"{where}: model {name!r}"
    check_model_name(name, what=f"{label}: name")
    _known(raw, MODEL_KEYS, label)
    merged: dict[str, Any] = {**defaults, **raw}
    for key in _MAPPING_KEYS:
        for part, src in ((defaults.get(key), f"{where}: defaults"), (raw.get(key), label)):
            if part is not None and not isinstance(part, dict):
                extra = f" (a file goes in {key}_file)" if key != "race" else ""
                raise ConfigError(f"{src}: {key} must be a mapping of single keys, got {type(part).__name__}{extra}")
        merged[key] = {**(defaults.get(key) or {}), **(raw.get(key) or {})}
    for part, src in ((defaults, f"{where}: defaults"), (raw, label)):
        if "track" in part and "tracks" in part:
            raise ConfigError(f"{src}: give 'track' or 'tracks', not both")
    tracks_value = raw.get("tracks", raw.get("track", defaults.get("tracks", defaults.get("track", "reinvent_base"))))
    tracks = _tracks(tracks_value, label)
    unknown_race = sorted(set(merged["race"]) - set(RACE_OPTION_KEYS))
    if unknown_race:
        hint = "; ".join(f"{k!r}: did you mean {closest_key(k, RACE_OPTION_KEYS)!r}?" for k in unknown_race
                         if closest_key(k, RACE_OPTION_KEYS))
        raise ConfigError(f"{label}: race: unknown option(s) {', '.join(map(repr, unknown_race))}"
                          f"{' (' + hint + ')' if hint else ''}; allowed: {', '.join(RACE_OPTION_KEYS)}")
    sims = _int(merged.get("sims", 1), f"{label}: sims", low=1)
    episodes = merged.get("episodes")
    minutes = merged.get("minutes")
    if "episodes" in raw and "minutes" not in raw:
        minutes = None          # a model's own budget replaces the defaults' other kind
    if "minutes" in raw and "episodes" not in raw:
        episodes = None
    if (episodes is None) == (minutes is None):
        raise ConfigError(f"{label}: give a budget: exactly one of 'episodes' or 'minutes' (here or in defaults)")
    if episodes is not None:
        episodes = _int(episodes, f"{label}: episodes", low=1)
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
            raise ConfigError(f"{label}: minutes must be a number > 0, got {minutes!r}")
        minutes = float(minutes)
    preset = merged.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{label}: preset must be a preset name, got {preset!r}")
    paths = {k: _path(merged.get(k), f"{label}: {k}", base_dir) for k in _PATH_KEYS}
    return ModelSpec(
        name=name, tracks=tracks, preset=preset, metadata_file=paths["model_metadata_file"],
        hyperparameters_file=paths["hyperparameters_file"], reward=paths["reward"],
        metadata_overrides=dict(merged["model_metadata"]), hyperparameter_overrides=dict(merged["hyperparameters"]),
        race=dict(merged["race"]), sims=sims, episodes=episodes, minutes=minutes,
        seed=_int(merged.get("seed", 0), f"{label}: seed", low=0),
        multi_track=_choice(merged.get("multi_track", "auto"), ("auto", "own", "spread"), f"{label}: multi_track"),
        sim_backend=_choice(merged.get("sim_backend", "fast"), SIM_BACKENDS, f"{label}: sim_backend"))


def _compare(raw: Any, where: str) -> CompareSpec:
    if raw is None:
        return CompareSpec()
    label = f"{where}: compare"
    _mapping(raw, label)
    _known(raw, COMPARE_KEYS, label)
    held = raw.get("held_out", [])
    held = _tracks(held, f"{label}: held_out") if held else ()
    trials = _int(raw.get("trials", 3), f"{label}: trials", low=1)
    checkpoint = raw.get("checkpoint", "best")
    if not (checkpoint in ("best", "last") or (isinstance(checkpoint, int) and not isinstance(checkpoint, bool))):
        raise ConfigError(f"{label}: checkpoint must be best, last or a checkpoint number, got {checkpoint!r}")
    return CompareSpec(held, trials, checkpoint)


def _early_stop(raw: Any, where: str) -> EarlyStop | None:
    if raw is None:
        return None
    label = f"{where}: early_stop"
    _mapping(raw, label)
    _known(raw, EARLY_STOP_KEYS, label)
    at = raw.get("at")
    if not isinstance(at, list) or not at or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                     and 0 < a < 1 for a in at):
        raise ConfigError(f"{label}: at must be a list of fractions of the budget between 0 and 1, e.g. [0.25, 0.5]; got {at!r}")
    keep = raw.get("keep", 0.5)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep < 1:
        raise ConfigError(f"{label}: keep must be a fraction between 0 and 1 (the share that goes on), got {keep!r}")
    return EarlyStop(tuple(sorted(float(a) for a in at)), float(keep))


# -- small checks ------------------------------------------------------------------------------------

def _mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping (key: value lines), got {type(value).__name__}")


def _known(data: dict, known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            guess = closest_key(key, known)
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(known)})")


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _int(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where} must be a whole number >= {low}, got {value!r}")
    return value


def _tracks(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [t.strip() for t in value.split(",")]
    elif isinstance(value, list):
        items = value
    else:
        raise ConfigError(f"{where}: tracks must be a track name or a list of them, got {value!r}")
    if not items or not all(isinstance(t, str) and t.strip() for t in items):
        raise ConfigError(f"{where}: tracks must be non-empty track names, got {value!r}")
    return tuple(t.strip() for t in items)


def _path(value: Any, where: str, base_dir: Path | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a file path, got {value!r}")
    p = Path(value).expanduser()
    candidates = [p] if p.is_absolute() else ([base_dir / p] if base_dir is not None else []) + [Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    looked = " or ".join(str(c) for c in candidates)
    raise ConfigError(f"{where}: file {value!r} not found (looked at {looked})")


__all__ = ["Scenario", "ModelSpec", "CompareSpec", "EarlyStop", "load_scenario", "parse_scenario", "MODEL_KEYS"]
