"""DeepRacer configuration files, validated once at the edge into typed objects.

``model_metadata.json`` (spec section 2) -> ModelMetadata, ``hyperparameters.json`` (section 3) ->
Hyperparameters, ``training_params.yaml`` (the run spec DRfC writes for the simapp) -> TrainingParams,
and the files in ``presets/`` (preset_files). Every fault is a ConfigError naming the file, the key
and what is allowed; unknown keys are reported in ``warnings`` (never silently dropped), each with
the closest known key, and ``load_model_metadata``/``load_hyperparameters`` print them to stderr
(``show_config_warnings``). A required key that is missing while a misspelling of it is present is an
error naming both.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

CAMERA_SENSORS = ("FRONT_FACING_CAMERA", "STEREO_CAMERAS", "observation", "LEFT_CAMERA")
LIDAR_SENSORS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
#: Our addition: a small state vector for fast reward-function iteration (not a DeepRacer sensor).
STATE_SENSOR = "STATE"
SENSORS = CAMERA_SENSORS + LIDAR_SENSORS + (STATE_SENSOR,)

NETWORKS = ("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "DEEP_CONVOLUTIONAL_NETWORK", "DEEP_CONVOLUTIONAL_NETWORK_DEEP")
ALGORITHMS = ("clipped_ppo", "sac")
ACTION_SPACE_TYPES = ("discrete", "continuous")

MIN_SPEED_MPS, MAX_SPEED_MPS = 0.1, 4.0
MAX_STEERING_DEG = 30.0

_KNOWN_METADATA_KEYS = {"action_space", "sensor", "neural_network", "training_algorithm",
                        "action_space_type", "version", "lidar_config", "preprocess_type"}
_LIDAR_CONFIG_KEYS = {"num_sectors", "num_values_per_sector", "clipping_dist"}
_DISCRETE_ACTION_KEYS = ("steering_angle", "speed", "index")
#: Names people use for model_metadata keys: a source of suggestions only, never accepted.
_METADATA_ALIASES = {"sensors": "sensor", "network": "neural_network", "algorithm": "training_algorithm",
                     "actions": "action_space", "action_type": "action_space_type", "lidar": "lidar_config"}


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says where and what is allowed."""


@dataclass(frozen=True)
class DiscreteAction:
    steering_angle_deg: float
    speed_mps: float


@dataclass(frozen=True)
class ContinuousBounds:
    steering_low_deg: float
    steering_high_deg: float
    speed_low_mps: float
    speed_high_mps: float


@dataclass(frozen=True)
class LidarConfig:
    num_sectors: int = 8
    num_values_per_sector: int = 8
    clipping_dist_m: float = 2.0


@dataclass(frozen=True)
class ModelMetadata:
    """A validated model_metadata.json."""

    action_space_type: str
    discrete_actions: tuple[DiscreteAction, ...] = ()
    continuous: ContinuousBounds | None = None
    sensors: tuple[str, ...] = ("FRONT_FACING_CAMERA",)
    neural_network: str = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    training_algorithm: str = "clipped_ppo"
    version: float = 5.0
    lidar_config: LidarConfig | None = None
    preprocess_type: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_discrete(self) -> bool:
        return self.action_space_type == "discrete"

    @property
    def num_actions(self) -> int:
        """Discrete: number of actions; continuous: 2 (steering, speed)."""
        return len(self.discrete_actions) if self.is_discrete else 2

    def to_json_dict(self) -> dict[str, Any]:
        """The model_metadata.json form (what DeepRacer tools read)."""
        if self.is_discrete:
            space: Any = [{"steering_angle": a.steering_angle_deg, "speed": a.speed_mps, "index": i}
                          for i, a in enumerate(self.discrete_actions)]
        else:
            c = self.continuous
            space = {"steering_angle": {"low": c.steering_low_deg, "high": c.steering_high_deg},
                     "speed": {"low": c.speed_low_mps, "high": c.speed_high_mps}}
        out: dict[str, Any] = {"action_space": space, "sensor": list(self.sensors),
                               "neural_network": self.neural_network,
                               "training_algorithm": self.training_algorithm,
                               "action_space_type": self.action_space_type, "version": str(_fmt_version(self.version))}
        if self.lidar_config is not None:
            lc = self.lidar_config
            out["lidar_config"] = {"num_sectors": lc.num_sectors, "num_values_per_sector": lc.num_values_per_sector,
                                   "clipping_dist": lc.clipping_dist_m}
        if self.preprocess_type is not None:
            out["preprocess_type"] = self.preprocess_type
        return out


def _fmt_version(v: float):
    return int(v) if float(v).is_integer() else v


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: {key} must be a number, got {type(value).__name__} {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(f"{where}: {key} must be finite, got {value!r}")
    return out


def _check_range(v: float, lo: float, hi: float, where: str, key: str, unit: str) -> float:
    if not lo <= v <= hi:
        raise ConfigError(f"{where}: {key} = {v:g} {unit} is outside the allowed range [{lo:g}, {hi:g}] {unit}")
    return v


# -- unknown and misspelt keys ----------------------------------------------------------------------

def closest_key(key: Any, known: "Iterable[str]", aliases: dict[str, str] | None = None) -> str | None:
    """The known key ``key`` most likely means (case, '-' and ' ' ignored; ``aliases`` maps other
    names to known keys), or None when none is close (difflib ratio below 0.6)."""
    if not isinstance(key, str):
        return None
    known = list(known)
    names = {k.lower(): k for k in known}
    names.update({a: k for a, k in (aliases or {}).items() if k in known})
    norm = key.strip().lower().replace("-", "_").replace(" ", "_")
    if norm in names:
        return names[norm]
    match = difflib.get_close_matches(norm, list(names), n=1, cutoff=0.6)
    return names[match[0]] if match else None


def unknown_key_warnings(data: dict, known: "Iterable[str]", where: str,
                         aliases: dict[str, str] | None = None) -> list[str]:
    """One warning per key of ``data`` not in ``known``, naming ``where``, the key and the closest known key."""
    known = list(known)
    out = []
    for key in data:
        if key in known:
            continue
        guess = closest_key(key, known, aliases)
        hint = f"; did you mean {guess!r}?" if guess is not None and guess not in data else ""
        out.append(f"{where}: unknown key {key!r} ignored{hint} (known keys: {', '.join(known)})")
    return out


def _missing_key(data: Any, key: str, known: "Iterable[str]", where: str,
                 aliases: dict[str, str] | None = None) -> str:
    """The message for required ``key`` missing from ``data``: names a present misspelling of it, if any."""
    known = list(known)
    typo = next((k for k in data if k not in known and closest_key(k, known, aliases) == key), None) \
        if isinstance(data, dict) else None
    msg = f"{where}: the required key {key!r} is missing"
    return msg + (f"; did you mean {typo!r}? (rename it to {key!r})" if typo is not None else "")


_shown_warnings: set[str] = set()


def show_config_warnings(*items: Any, stream: Any = None) -> list[str]:
    """Print each warning of ``items`` (configs with ``warnings``, or strings) to stderr as
    "warning: ...", each text once per process; return the ones printed now."""
    shown = []
    for item in items:
        texts = [item] if isinstance(item, str) else list(getattr(item, "warnings", item) or ())
        for text in texts:
            if text not in _shown_warnings:
                _shown_warnings.add(text)
                shown.append(text)
                print(f"warning: {text}", file=stream or sys.stderr, flush=True)
    return shown


#: A model name: one folder name of letters, digits, '.', '_' and '-'.
_MODEL_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_model_name(name: Any, what: str = "MODEL") -> str:
    """``name`` if it can be a model folder name (under models/ and as an S3 prefix), else a ConfigError
    saying why: empty, an absolute path, spaces, '..', or characters outside [A-Za-z0-9._-]."""
    allowed = "use letters, digits, '.', '_' and '-'"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{what} must be a model name ({allowed}), got {name!r}")
    suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("..", "-")).strip("-.")
    hint = f", e.g. {suggestion!r}" if suggestion and _MODEL_NAME.fullmatch(suggestion) else ""
    if name.startswith(("/", "\\", "~")) or os.path.isabs(name) or re.match(r"[A-Za-z]:[\\/]", name):
        raise ConfigError(f"{what} {name!r} is a path; give the name of a folder under models/ ({allowed}{hint})")
    if any(c.isspace() for c in name):
        raise ConfigError(f"{what} {name!r} contains spaces; {allowed}{hint}")
    if ".." in name or name == ".":
        raise ConfigError(f"{what} {name!r}: '..' and '.' are not allowed in a model name (they point outside"
                          f" the model's folder); {allowed}{hint}")
    bad = sorted(set(c for c in name if not _MODEL_NAME.fullmatch(c)))
    if bad:
        raise ConfigError(f"{what} {name!r}: {', '.join(repr(c) for c in bad)} not allowed in a model name;"
                          f" {allowed}{hint}")
    return name


def parse_model_metadata(data: Any, source: str = "model_metadata.json") -> ModelMetadata:
    """Validate a model_metadata dict (``source`` names the file in error messages)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    warnings = unknown_key_warnings(data, sorted(_KNOWN_METADATA_KEYS), source, _METADATA_ALIASES)

    space_type = data.get("action_space_type", "discrete")
    if space_type not in ACTION_SPACE_TYPES:
        raise ConfigError(f"{source}: action_space_type {space_type!r} is not one of {', '.join(ACTION_SPACE_TYPES)}")
    algorithm = data.get("training_algorithm", "clipped_ppo")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"{source}: training_algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    if algorithm == "sac" and space_type != "continuous":
        raise ConfigError(f"{source}: training_algorithm 'sac' needs action_space_type 'continuous' "
                          f"(SAC has no discrete form); use 'clipped_ppo' for a discrete action space")
    network = data.get("neural_network", NETWORKS[0])
    if network not in NETWORKS:
        raise ConfigError(f"{source}: neural_network {network!r} is not one of {', '.join(NETWORKS)}")

    if "action_space" not in data:
        raise ConfigError(_missing_key(data, "action_space", sorted(_KNOWN_METADATA_KEYS), source, _METADATA_ALIASES))
    space = data["action_space"]
    discrete: list[DiscreteAction] = []
    continuous = None
    if space_type == "discrete":
        if not isinstance(space, list) or not space:
            raise ConfigError(f"{source}: action_space must be a non-empty list of "
                              '{"steering_angle": deg, "speed": m/s} for a discrete action space')
        for i, a in enumerate(space):
            where = f"{source}: action_space[{i}]"
            if isinstance(a, dict) and ("steering_angle" in a or "speed" in a):
                for key in ("steering_angle", "speed"):
                    if key not in a:
                        raise ConfigError(_missing_key(a, key, _DISCRETE_ACTION_KEYS, where) +
                                          f" (an action is {{\"steering_angle\": deg, \"speed\": m/s}}, got {a!r})")
            if not isinstance(a, dict) or "steering_angle" not in a or "speed" not in a:
                raise ConfigError(f"{where} must be an object with 'steering_angle' (deg) and 'speed' (m/s), got {a!r}")
            warnings += unknown_key_warnings(a, _DISCRETE_ACTION_KEYS, where)
            steer = _check_range(_number(a["steering_angle"], where, "steering_angle"), -MAX_STEERING_DEG,
                                 MAX_STEERING_DEG, where, "steering_angle", "deg")
            speed = _check_range(_number(a["speed"], where, "speed"), MIN_SPEED_MPS, MAX_SPEED_MPS, where, "speed", "m/s")
            discrete.append(DiscreteAction(steer, speed))
    else:
        where = f"{source}: action_space"
        if not isinstance(space, dict) or not all(isinstance(space.get(k), dict) for k in ("steering_angle", "speed")):
            raise ConfigError(f'{where} must be {{"steering_angle": {{"low", "high"}}, "speed": {{"low", "high"}}}} '
                              "for a continuous action space")
        vals = {}
        for k, unit, lo, hi in (("steering_angle", "deg", -MAX_STEERING_DEG, MAX_STEERING_DEG),
                                ("speed", "m/s", MIN_SPEED_MPS, MAX_SPEED_MPS)):
            for end in ("low", "high"):
                if end not in space[k]:
                    raise ConfigError(f"{where}.{k}: missing '{end}'")
                vals[k, end] = _check_range(_number(space[k][end], where, f"{k}.{end}"), lo, hi, where, f"{k}.{end}", unit)
            if vals[k, "low"] > vals[k, "high"]:
                raise ConfigError(f"{where}.{k}: low {vals[k, 'low']:g} is above high {vals[k, 'high']:g}")
        continuous = ContinuousBounds(vals["steering_angle", "low"], vals["steering_angle", "high"],
                                      vals["speed", "low"], vals["speed", "high"])

    sensors_raw = data.get("sensor", ["FRONT_FACING_CAMERA"])
    if isinstance(sensors_raw, str):
        sensors_raw = [sensors_raw]
    if not isinstance(sensors_raw, list) or not sensors_raw:
        raise ConfigError(f"{source}: sensor must be a non-empty list of sensor names from {', '.join(SENSORS)}")
    for s in sensors_raw:
        if s not in SENSORS:
            raise ConfigError(f"{source}: unknown sensor {s!r}; allowed: {', '.join(SENSORS)}")
    cams = [s for s in sensors_raw if s in CAMERA_SENSORS]
    lidars = [s for s in sensors_raw if s in LIDAR_SENSORS]
    if len(cams) > 1 or len(lidars) > 1 or len(set(sensors_raw)) != len(sensors_raw):
        raise ConfigError(f"{source}: sensor {sensors_raw} must hold at most one camera ({', '.join(CAMERA_SENSORS)}), "
                          f"at most one lidar ({', '.join(LIDAR_SENSORS)}) and no repeats")
    if STATE_SENSOR not in sensors_raw and not cams:
        raise ConfigError(f"{source}: sensor {sensors_raw} needs exactly one camera ({', '.join(CAMERA_SENSORS)}) "
                          f"or the STATE sensor")

    lidar_config = None
    if "lidar_config" in data:
        lc = data["lidar_config"]
        if not isinstance(lc, dict):
            raise ConfigError(f"{source}: lidar_config must be an object with {', '.join(sorted(_LIDAR_CONFIG_KEYS))}")
        warnings += unknown_key_warnings(lc, sorted(_LIDAR_CONFIG_KEYS), f"{source}: lidar_config")
        d = LidarConfig()
        ns = int(_number(lc.get("num_sectors", d.num_sectors), source, "lidar_config.num_sectors"))
        nv = int(_number(lc.get("num_values_per_sector", d.num_values_per_sector), source, "lidar_config.num_values_per_sector"))
        cd = _number(lc.get("clipping_dist", d.clipping_dist_m), source, "lidar_config.clipping_dist")
        if ns < 1 or nv < 1 or cd <= 0:
            raise ConfigError(f"{source}: lidar_config needs num_sectors >= 1, num_values_per_sector >= 1, clipping_dist > 0")
        lidar_config = LidarConfig(ns, nv, cd)

    version = _number(data.get("version", 5), source, "version")
    preprocess = data.get("preprocess_type")
    return ModelMetadata(space_type, tuple(discrete), continuous, tuple(sensors_raw), network, algorithm,
                         version, lidar_config, preprocess if preprocess is None else str(preprocess), tuple(warnings))


def load_json_file(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read {what}: {exc}") from None


def load_model_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Read and validate a model_metadata.json file; print its warnings (unknown keys) to stderr."""
    metadata = parse_model_metadata(load_json_file(path, "model_metadata.json"), source=str(path))
    show_config_warnings(metadata)
    return metadata


#: deepracer-for-cloud's default model_metadata.json (5 discrete actions, camera, shallow network).
DEFAULT_MODEL_METADATA: dict[str, Any] = {
    "action_space": [{"steering_angle": s, "speed": 0.6} for s in (-30, -15, 0, 15, 30)],
    "sensor": ["FRONT_FACING_CAMERA"],
    "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "training_algorithm": "clipped_ppo",
    "action_space_type": "discrete",
    "version": "5",
}


def as_model_metadata(value: "ModelMetadata | dict | str | os.PathLike | None") -> ModelMetadata:
    """Accept a ModelMetadata, a dict, a path to model_metadata.json, or None (the DRfC default)."""
    if value is None:
        return parse_model_metadata(DEFAULT_MODEL_METADATA, source="default model_metadata")
    if isinstance(value, ModelMetadata):
        return value
    if isinstance(value, dict):
        return parse_model_metadata(value, source="model_metadata")
    return load_model_metadata(value)


# --------------------------------------------------------------------------------------------------
# hyperparameters.json (spec section 3)
# --------------------------------------------------------------------------------------------------

EXPLORATION_TYPES = ("categorical", "e-greedy")
LOSS_TYPES = ("huber", "mean squared error")
#: Spellings we accept for loss_type, mapped to the reference's own (the simapp compares exactly).
_LOSS_ALIASES = {"huber": "huber", "mean squared error": "mean squared error", "mse": "mean squared error",
                 "mean_squared_error": "mean squared error"}


@dataclass(frozen=True)
class Hyperparameters:
    """A validated hyperparameters.json; defaults are deepracer-for-cloud's default file.

    ``lr`` is Adam's step size; ``discount_factor`` is gamma per step (15 steps per simulated second);
    ``num_episodes_between_training`` episodes (all workers together) feed one training iteration of
    ``num_epochs`` passes in minibatches of ``batch_size`` steps. ``e_greedy_value``/``epsilon_steps``
    only matter for ``exploration_type`` "e-greedy"; ``sac_alpha`` only for SAC. Training stops after
    ``term_cond_max_episodes`` episodes or when the mean evaluation reward reaches ``term_cond_avg_score``.
    """

    batch_size: int = 64
    beta_entropy: float = 0.01
    discount_factor: float = 0.99
    e_greedy_value: float = 0.05
    epsilon_steps: int = 10000
    exploration_type: str = "categorical"
    loss_type: str = "huber"
    lr: float = 0.0003
    num_episodes_between_training: int = 20
    num_epochs: int = 5
    stack_size: int = 1
    term_cond_avg_score: float = 350.0
    term_cond_max_episodes: int = 1000
    sac_alpha: float = 0.2
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        _check_hyperparameters(self, "hyperparameters")

    def to_json_dict(self) -> dict[str, Any]:
        """The hyperparameters.json form: every key, in the order of the DRfC default file."""
        return {k: getattr(self, k) for k in _HYPERPARAMETER_KEYS}


_HYPERPARAMETER_KEYS = tuple(f for f in Hyperparameters.__dataclass_fields__ if f != "warnings")
#: Names people use for hyperparameters (other tools, papers): a source of suggestions only.
_HYPERPARAMETER_ALIASES = {"learning_rate": "lr", "gamma": "discount_factor", "entropy": "beta_entropy",
                           "entropy_coefficient": "beta_entropy", "ent_coef": "beta_entropy", "epochs": "num_epochs",
                           "n_epochs": "num_epochs", "minibatch_size": "batch_size", "mini_batch_size": "batch_size",
                           "alpha": "sac_alpha", "episodes_per_iteration": "num_episodes_between_training",
                           "epsilon": "e_greedy_value"}
_INT_HYPERPARAMETERS = {"batch_size", "epsilon_steps", "num_episodes_between_training", "num_epochs", "stack_size",
                        "term_cond_max_episodes"}
#: (low, high, low inclusive, high inclusive) per numeric key; None = unbounded.
_HYPERPARAMETER_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "batch_size": (1, None, True, True), "beta_entropy": (0, None, True, True),
    "discount_factor": (0, 1, False, True), "e_greedy_value": (0, 1, True, True),
    "epsilon_steps": (0, None, True, True), "lr": (0, None, False, True),
    "num_episodes_between_training": (1, None, True, True), "num_epochs": (1, None, True, True),
    "stack_size": (1, None, True, True), "term_cond_avg_score": (None, None, True, True),
    "term_cond_max_episodes": (1, None, True, True), "sac_alpha": (0, None, True, True),
}


def _integer(value: Any, where: str, key: str) -> int:
    """An int, an integral float (64.0) or a numeric string ("64"); anything else is a ConfigError."""
    v = _number(value, where, key)
    if not v.is_integer():
        raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}")
    return int(v)


def _range_text(lo: float | None, hi: float | None, lo_inc: bool, hi_inc: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_inc else '>'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<=' if hi_inc else '<'} {hi:g}")
    return " and ".join(parts)


def _choice(value: Any, allowed: dict[str, str], where: str, key: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        names = sorted(set(allowed.values()))
        raise ConfigError(f"{where}: {key} {value!r} is not one of {', '.join(repr(n) for n in names)}")
    return allowed[value.strip().lower()]


def parse_hyperparameters(data: Any, source: str = "hyperparameters.json") -> Hyperparameters:
    """Validate a hyperparameters dict (``source`` names the file in error messages).

    Numbers may be JSON numbers or numeric strings ("64", "3e-4"), cast to the key's type; whole-number
    keys reject fractions. Missing keys take the DRfC defaults. ``exploration_type`` and ``loss_type``
    are case-insensitive; ``loss_type`` also accepts "mse" / "mean_squared_error" for "mean squared
    error". Unknown keys are kept out of the object and listed in ``warnings``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    warnings = tuple(unknown_key_warnings(data, _HYPERPARAMETER_KEYS, source, _HYPERPARAMETER_ALIASES))
    values: dict[str, Any] = {}
    for key in _HYPERPARAMETER_RANGES:
        if key in data:
            values[key] = _integer(data[key], source, key) if key in _INT_HYPERPARAMETERS else _number(data[key], source, key)
    if "exploration_type" in data:
        values["exploration_type"] = _choice(data["exploration_type"], {t: t for t in EXPLORATION_TYPES},
                                             source, "exploration_type")
    if "loss_type" in data:
        values["loss_type"] = _choice(data["loss_type"], _LOSS_ALIASES, source, "loss_type")
    _check_hyperparameters({**Hyperparameters().to_json_dict(), **values}, source)
    return Hyperparameters(**values, warnings=warnings)


def _check_hyperparameters(hp: "Hyperparameters | dict[str, Any]", source: str) -> None:
    """ConfigError naming ``source`` and the key of the first value out of its range or choices."""
    get = hp.get if isinstance(hp, dict) else lambda k: getattr(hp, k)
    for key, (lo, hi, lo_inc, hi_inc) in _HYPERPARAMETER_RANGES.items():
        v = get(key)
        ok = (lo is None or (v >= lo if lo_inc else v > lo)) and (hi is None or (v <= hi if hi_inc else v < hi))
        if not ok:
            raise ConfigError(f"{source}: {key} = {v:g} is not allowed; it must be {_range_text(lo, hi, lo_inc, hi_inc)}")
    for key, allowed in (("exploration_type", EXPLORATION_TYPES), ("loss_type", LOSS_TYPES)):
        if get(key) not in allowed:
            raise ConfigError(f"{source}: {key} {get(key)!r} is not one of {', '.join(repr(a) for a in allowed)}")


def check_override_keys(overrides: dict, kind: str, source: str) -> None:
    """Single keys set on top of a model_metadata or hyperparameters file (a scenario's inline
    overrides) must be keys of that file: a typo here would silently change nothing, so it is an
    error naming ``source``, the key and the closest known key. ``kind``: "hyperparameters" or
    "model_metadata"."""
    known, aliases = ((_HYPERPARAMETER_KEYS, _HYPERPARAMETER_ALIASES) if kind == "hyperparameters"
                      else (sorted(_KNOWN_METADATA_KEYS), _METADATA_ALIASES))
    bad = unknown_key_warnings(overrides, known, f"{source} {kind}", aliases)
    if bad:
        raise ConfigError("; ".join(text.replace(" ignored", "") for text in bad))


def load_hyperparameters(path: str | os.PathLike) -> Hyperparameters:
    """Read and validate a hyperparameters.json file; print its warnings (unknown keys) to stderr."""
    hp = parse_hyperparameters(load_json_file(path, "hyperparameters.json"), source=str(path))
    show_config_warnings(hp)
    return hp


def as_hyperparameters(value: "Hyperparameters | dict | str | os.PathLike | None") -> Hyperparameters:
    """Accept a Hyperparameters, a dict, a path to hyperparameters.json, or None (the DRfC defaults)."""
    if value is None:
        return Hyperparameters()
    if isinstance(value, Hyperparameters):
        return value
    if isinstance(value, dict):
        return parse_hyperparameters(value, source="hyperparameters")
    return load_hyperparameters(value)


# --------------------------------------------------------------------------------------------------
# training_params.yaml: the run spec deepracer-for-cloud writes for the simapp (upper-case keys)
# --------------------------------------------------------------------------------------------------

RACE_TYPES = ("TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT")
#: The fast simulator's car models (DEEPRACER_DYNAMICS, and CAR_DYNAMICS in training_params.yaml, which records
#: the one a model was trained with): "v6-four" four contacts and the v6 steering fitted to the DART (v6) car (the
#: default), "v6-two" two contacts and the v6 steering (the default until 2026-12-05), "v5" four contacts and the
#: v5 steering fitted to the Gazebo (v5) car (simulation/dynamics.py, simulation/dynamics_four.py, docs/dart.md,
#: docs/gazebo.md).
CAR_DYNAMICS_MODELS = ("v6-four", "v6-two", "v5")
#: Other names accepted for them: "v6" is the default v6 car.
CAR_DYNAMICS_ALIASES = {"v6": "v6-four"}
DEFAULT_CAR_DYNAMICS = "v6-four"
#: The car of a model folder whose training_params.yaml records none: every model trained before the car was
#: recorded (unless DEEPRACER_DYNAMICS=v5 was set then, which the folder cannot tell).
UNRECORDED_CAR_DYNAMICS = "v6-two"


def car_dynamics_model(name: str, source: str = "DEEPRACER_DYNAMICS") -> str:
    """The car model ``name`` stands for (CAR_DYNAMICS_MODELS); '' is the default. A ConfigError names
    ``source`` and the allowed values for any other name."""
    name = (name or "").strip()
    if not name:
        return DEFAULT_CAR_DYNAMICS
    name = CAR_DYNAMICS_ALIASES.get(name, name)
    if name not in CAR_DYNAMICS_MODELS:
        allowed = ", ".join((*CAR_DYNAMICS_MODELS, *CAR_DYNAMICS_ALIASES))
        raise ConfigError(f"{source}={name!r} is not a car model this version knows; allowed: {allowed}")
    return name


BEST_MODEL_METRICS = ("progress", "reward")

#: (attribute, YAML key, type). Order = the order DRfC's prepare-config.py writes them.
_TRAINING_PARAM_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("aws_region", "AWS_REGION", str),
    ("job_type", "JOB_TYPE", str),
    ("metrics_s3_bucket", "METRICS_S3_BUCKET", str),
    ("metrics_s3_object_key", "METRICS_S3_OBJECT_KEY", str),
    ("model_metadata_file_s3_key", "MODEL_METADATA_FILE_S3_KEY", str),
    ("reward_file_s3_key", "REWARD_FILE_S3_KEY", str),
    ("num_workers", "NUM_WORKERS", int),
    ("sagemaker_shared_s3_bucket", "SAGEMAKER_SHARED_S3_BUCKET", str),
    ("sagemaker_shared_s3_prefix", "SAGEMAKER_SHARED_S3_PREFIX", str),
    ("simtrace_s3_bucket", "SIMTRACE_S3_BUCKET", str),
    ("simtrace_s3_prefix", "SIMTRACE_S3_PREFIX", str),
    ("body_shell_type", "BODY_SHELL_TYPE", str),
    ("car_color", "CAR_COLOR", str),
    ("car_name", "CAR_NAME", str),
    ("race_type", "RACE_TYPE", str),
    ("world_name", "WORLD_NAME", str),
    ("display_name", "DISPLAY_NAME", str),
    ("racer_name", "RACER_NAME", str),
    ("reverse_dir", "REVERSE_DIR", bool),
    ("alternate_driving_direction", "ALTERNATE_DRIVING_DIRECTION", bool),
    ("change_start_position", "CHANGE_START_POSITION", bool),
    ("round_robin_advance_dist", "ROUND_ROBIN_ADVANCE_DIST", float),
    ("start_position_offset", "START_POSITION_OFFSET", float),
    ("enable_domain_randomization", "ENABLE_DOMAIN_RANDOMIZATION", bool),
    ("min_eval_trials", "MIN_EVAL_TRIALS", int),
    ("best_model_metric", "BEST_MODEL_METRIC", str),
    # OBJECT_AVOIDANCE only
    ("number_of_obstacles", "NUMBER_OF_OBSTACLES", int),
    ("min_distance_between_obstacles", "MIN_DISTANCE_BETWEEN_OBSTACLES", float),
    ("randomize_obstacle_locations", "RANDOMIZE_OBSTACLE_LOCATIONS", bool),
    ("is_obstacle_bot_car", "IS_OBSTACLE_BOT_CAR", bool),
    ("obstacle_type", "OBSTACLE_TYPE", str),
    ("object_positions", "OBJECT_POSITIONS", tuple),
    # HEAD_TO_BOT only
    ("is_lane_change", "IS_LANE_CHANGE", bool),
    ("lower_lane_change_time", "LOWER_LANE_CHANGE_TIME", float),
    ("upper_lane_change_time", "UPPER_LANE_CHANGE_TIME", float),
    ("lane_change_distance", "LANE_CHANGE_DISTANCE", float),
    ("number_of_bot_cars", "NUMBER_OF_BOT_CARS", int),
    ("min_distance_between_bot_cars", "MIN_DISTANCE_BETWEEN_BOT_CARS", float),
    ("randomize_bot_car_locations", "RANDOMIZE_BOT_CAR_LOCATIONS", bool),
    ("bot_car_speed", "BOT_CAR_SPEED", float),
    ("penalty_seconds", "PENALTY_SECONDS", float),
    # ours: the fast simulator's car model the model trained with (empty: not recorded); robust training
    ("car_dynamics", "CAR_DYNAMICS", str),
    ("robust_training", "ROBUST_TRAINING", bool),
)
_OA_KEYS = {"NUMBER_OF_OBSTACLES", "MIN_DISTANCE_BETWEEN_OBSTACLES", "RANDOMIZE_OBSTACLE_LOCATIONS",
            "IS_OBSTACLE_BOT_CAR", "OBSTACLE_TYPE", "OBJECT_POSITIONS"}
_H2B_KEYS = {"IS_LANE_CHANGE", "LOWER_LANE_CHANGE_TIME", "UPPER_LANE_CHANGE_TIME", "LANE_CHANGE_DISTANCE",
             "NUMBER_OF_BOT_CARS", "MIN_DISTANCE_BETWEEN_BOT_CARS", "RANDOMIZE_BOT_CAR_LOCATIONS",
             "BOT_CAR_SPEED", "PENALTY_SECONDS"}
#: Keys the reference writes that we carry through unchanged (in ``extra``) without a warning.
_PASSTHROUGH_TRAINING_KEYS = {"KINESIS_VIDEO_STREAM_NAME", "ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID", "TRAINING_JOB_ARN",
                              "S3_ENDPOINT_URL", "CAMERA_MAIN_ENABLE", "CAMERA_SUB_ENABLE",
                              "ENABLE_EXTRA_KVS_OVERLAY", "MULTI_CONFIG"}


@dataclass(frozen=True)
class TrainingParams:
    """A validated training_params.yaml. Defaults: DRfC's prepare-config.py with its template-run.env.

    Distances in metres, times in seconds, speeds in m/s. ``round_robin_advance_dist`` and
    ``start_position_offset`` are fractions of a lap (0-1); ``object_positions`` are
    (lap fraction 0-1, lane) pairs, written "0.25,1" as the reference does, where the simapp reads
    lane 1 as the inner lane and -1 as the outer lane. S3 keys name
    objects in the model store (see core.model_folder for the layout). Keys this class does not
    model are kept in ``extra`` and written back unchanged; unknown ones are also listed in ``warnings``.
    """

    aws_region: str = "us-east-1"
    job_type: str = "TRAINING"
    metrics_s3_bucket: str = "bucket"
    metrics_s3_object_key: str = "rl-deepracer-sagemaker/metrics/TrainingMetrics.json"
    model_metadata_file_s3_key: str = "rl-deepracer-sagemaker/model/model_metadata.json"
    reward_file_s3_key: str = "rl-deepracer-sagemaker/reward_function.py"
    num_workers: int = 1
    sagemaker_shared_s3_bucket: str = "bucket"
    sagemaker_shared_s3_prefix: str = "rl-deepracer-sagemaker"
    simtrace_s3_bucket: str = "bucket"
    simtrace_s3_prefix: str = "rl-deepracer-sagemaker"
    body_shell_type: str = "deepracer"
    car_color: str = "Red"
    car_name: str = "FastCar"
    race_type: str = "TIME_TRIAL"
    world_name: str = "reinvent_base"
    display_name: str = "FastCar"
    racer_name: str = "FastCar"
    reverse_dir: bool = False
    alternate_driving_direction: bool = False
    change_start_position: bool = True
    round_robin_advance_dist: float = 0.05
    start_position_offset: float = 0.0
    enable_domain_randomization: bool = False
    min_eval_trials: int = 5
    best_model_metric: str = "progress"
    number_of_obstacles: int = 6
    min_distance_between_obstacles: float = 2.0
    randomize_obstacle_locations: bool = False
    is_obstacle_bot_car: bool = False
    obstacle_type: str = "box_obstacle"
    object_positions: tuple[tuple[float, int], ...] = ()
    is_lane_change: bool = False
    lower_lane_change_time: float = 3.0
    upper_lane_change_time: float = 5.0
    lane_change_distance: float = 1.0
    number_of_bot_cars: int = 3
    min_distance_between_bot_cars: float = 2.0
    randomize_bot_car_locations: bool = False
    bot_car_speed: float = 0.2
    penalty_seconds: float = 5.0
    #: CAR_DYNAMICS: the fast simulator's car model (CAR_DYNAMICS_MODELS) the model trained with; empty:
    #: not recorded (a folder of an earlier version: UNRECORDED_CAR_DYNAMICS).
    car_dynamics: str = ""
    #: ROBUST_TRAINING: per episode and car, randomize the car and the camera (simulation/robust.py)
    robust_training: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "training_params") -> None:
        """Raise ConfigError naming the YAML key of the first value that cannot be used."""
        if self.race_type not in RACE_TYPES:
            raise ConfigError(f"{source}: RACE_TYPE {self.race_type!r} is not one of {', '.join(RACE_TYPES)}")
        if self.best_model_metric not in BEST_MODEL_METRICS:
            raise ConfigError(f"{source}: BEST_MODEL_METRIC {self.best_model_metric!r} is not one of "
                              f"{', '.join(BEST_MODEL_METRICS)}")
        if not self.world_name:
            raise ConfigError(f"{source}: WORLD_NAME (the track) must not be empty")
        if self.car_dynamics:
            car_dynamics_model(self.car_dynamics, source=f"{source}: CAR_DYNAMICS")
        checks = (("NUM_WORKERS", self.num_workers >= 1, ">= 1"),
                  ("ROUND_ROBIN_ADVANCE_DIST", 0.0 <= self.round_robin_advance_dist <= 1.0, "a lap fraction in [0, 1]"),
                  ("START_POSITION_OFFSET", 0.0 <= self.start_position_offset <= 1.0, "a lap fraction in [0, 1]"),
                  ("MIN_EVAL_TRIALS", self.min_eval_trials >= 0, ">= 0"),
                  ("NUMBER_OF_OBSTACLES", self.number_of_obstacles >= 0, ">= 0"),
                  ("MIN_DISTANCE_BETWEEN_OBSTACLES", self.min_distance_between_obstacles >= 0, ">= 0 m"),
                  ("NUMBER_OF_BOT_CARS", self.number_of_bot_cars >= 0, ">= 0"),
                  ("MIN_DISTANCE_BETWEEN_BOT_CARS", self.min_distance_between_bot_cars >= 0, ">= 0 m"),
                  ("BOT_CAR_SPEED", 0.0 <= self.bot_car_speed <= MAX_SPEED_MPS, f"in [0, {MAX_SPEED_MPS:g}] m/s"),
                  ("LOWER_LANE_CHANGE_TIME", 0 < self.lower_lane_change_time <= self.upper_lane_change_time,
                   "> 0 s and <= UPPER_LANE_CHANGE_TIME"),
                  ("PENALTY_SECONDS", self.penalty_seconds >= 0, ">= 0 s"))
        for key, ok, allowed in checks:
            if not ok:
                value = getattr(self, next(a for a, k, _ in _TRAINING_PARAM_FIELDS if k == key))
                raise ConfigError(f"{source}: {key} = {value!r} is not allowed; it must be {allowed}")
        for frac, lane in self.object_positions:
            if not 0.0 <= frac <= 1.0 or lane not in (1, -1):
                raise ConfigError(f"{source}: OBJECT_POSITIONS entry ({frac}, {lane}) needs a lap fraction in [0, 1] "
                                  "and a lane of 1 or -1")

    @classmethod
    def from_dict(cls, data: Any, source: str = "training_params.yaml") -> "TrainingParams":
        """Validate a dict with the reference's upper-case keys (values may be strings, as DRfC writes them)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a YAML mapping of upper-case keys, got {type(data).__name__}")
        by_key = {k: (attr, kind) for attr, k, kind in _TRAINING_PARAM_FIELDS}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        warnings: list[str] = []
        for key, raw in data.items():
            if key not in by_key:
                extra[key] = raw
                if key not in _PASSTHROUGH_TRAINING_KEYS:
                    warnings.append(f"{source}: unknown key {key!r} kept as is but not used")
                continue
            attr, kind = by_key[key]
            values[attr] = _training_value(raw, kind, source, key)
        try:
            return cls(**values, extra=extra, warnings=tuple(warnings))
        except ConfigError as exc:      # __post_init__ names no file; name this one
            raise ConfigError(f"{source}: {str(exc).removeprefix('training_params: ')}") from None

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping, every value a string as DRfC writes it; race-type keys only for that race type."""
        out: dict[str, Any] = {}
        for attr, key, kind in _TRAINING_PARAM_FIELDS:
            if (key in _OA_KEYS and self.race_type != "OBJECT_AVOIDANCE") or \
                    (key in _H2B_KEYS and self.race_type != "HEAD_TO_BOT"):
                continue
            value = getattr(self, attr)
            if key in ("CAR_DYNAMICS", "ROBUST_TRAINING") and not value:
                continue
            if kind is tuple:
                if value:
                    out[key] = [f"{frac:g},{lane}" for frac, lane in value]
                continue
            out[key] = str(value) if kind is not float else repr(float(value))
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_yaml(self) -> str:
        """YAML text in DRfC's style (explicit start, every scalar single-quoted), via yaml.safe_dump."""
        import yaml
        return yaml.safe_dump(self.to_dict(), default_flow_style=False, default_style="'", explicit_start=True,
                              sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "training_params.yaml") -> "TrainingParams":
        """Parse YAML text (yaml.safe_load only) and validate it."""
        import yaml
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from None
        return cls.from_dict({} if data is None else data, source)

    @property
    def trained_car_dynamics(self) -> str:
        """The car model (CAR_DYNAMICS_MODELS) the model trained with: the recorded one, or for a folder that
        records none, UNRECORDED_CAR_DYNAMICS."""
        return car_dynamics_model(self.car_dynamics) if self.car_dynamics else UNRECORDED_CAR_DYNAMICS

    def race_options(self, track_length_m: float | None = None) -> dict[str, Any]:
        """Keyword options for the simulator's race config (simulation.race.RaceConfig.from_dict).

        ``track_length_m`` converts START_POSITION_OFFSET (a lap fraction) to metres; it is needed only
        when that offset is not 0. OBJECT_POSITIONS lanes pass through as written: 1 is the inner lane
        and -1 the outer, as the simapp reads them (RaceConfig also takes "left"/"right" of the forward
        direction).
        """
        if self.start_position_offset and track_length_m is None:
            raise ConfigError("training_params: START_POSITION_OFFSET is not 0, so race_options() needs track_length_m")
        opts: dict[str, Any] = {
            "race_type": self.race_type, "training": True, "round_robin_advance": self.round_robin_advance_dist,
            "start_offset_m": self.start_position_offset * (track_length_m or 0.0),
            "reverse_direction": self.reverse_dir, "alternate_direction": self.alternate_driving_direction,
            "dynamics": self.trained_car_dynamics, "robust": self.robust_training}
        if not self.change_start_position:
            opts["round_robin_advance"] = 0.0
        if self.race_type == "OBJECT_AVOIDANCE":
            opts.update(number_of_obstacles=self.number_of_obstacles,
                        min_distance_between_obstacles_m=self.min_distance_between_obstacles,
                        randomize_obstacle_locations=self.randomize_obstacle_locations,
                        obstacle_positions=tuple(self.object_positions))
        elif self.race_type == "HEAD_TO_BOT":
            opts.update(number_of_bot_cars=self.number_of_bot_cars, bot_car_speed_mps=self.bot_car_speed,
                        min_distance_between_bot_cars_m=self.min_distance_between_bot_cars,
                        bot_lane_change=self.is_lane_change, lower_lane_change_time_s=self.lower_lane_change_time,
                        upper_lane_change_time_s=self.upper_lane_change_time,
                        lane_change_distance_m=self.lane_change_distance,
                        randomize_bot_car_locations=self.randomize_bot_car_locations,
                        bot_pause_s=self.penalty_seconds)
        return opts


_TRUE_STRINGS, _FALSE_STRINGS = {"true", "yes", "1"}, {"false", "no", "0"}


def _training_value(raw: Any, kind: type, source: str, key: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE_STRINGS | _FALSE_STRINGS:
            return raw.strip().lower() in _TRUE_STRINGS
        raise ConfigError(f"{source}: {key} must be true or false, got {raw!r}")
    if kind is int:
        return _integer(raw, source, key)
    if kind is float:
        return _number(raw, source, key)
    if kind is tuple:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise ConfigError(f"{source}: {key} must be a list of \"lap_fraction,lane\" strings, got {raw!r}")
        out = []
        for item in items:
            parts = str(item).replace('"', "").split(",")
            if len(parts) != 2:
                raise ConfigError(f"{source}: {key} entry {item!r} must be \"lap_fraction,lane\", e.g. \"0.25,1\"")
            out.append((_number(parts[0], source, key), _integer(parts[1], source, key)))
        return tuple(out)
    if raw is None or isinstance(raw, (dict, list)):
        raise ConfigError(f"{source}: {key} must be a string, got {raw!r}")
    return str(raw)


def load_training_params(path: str | os.PathLike) -> TrainingParams:
    """Read and validate a training_params.yaml file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"training_params.yaml file not found: {p}")
    return TrainingParams.from_yaml(p.read_text(encoding="utf-8"), source=str(p))


# --------------------------------------------------------------------------------------------------
# presets/: deepracer-for-cloud defaults and our variants, as files users can copy
# --------------------------------------------------------------------------------------------------

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
#: preset name -> (model_metadata file, hyperparameters file), both in PRESETS_DIR.
PRESETS: dict[str, tuple[str, str]] = {
    "default": ("model_metadata.json", "hyperparameters.json"),
    "continuous": ("model_metadata_continuous.json", "hyperparameters.json"),
    "10-actions": ("model_metadata_10_actions.json", "hyperparameters.json"),
    "stereo": ("model_metadata_stereo.json", "hyperparameters.json"),
    "lidar": ("model_metadata_lidar.json", "hyperparameters.json"),
    "state": ("model_metadata_state.json", "hyperparameters_state.json"),
    "racing": ("model_metadata_racing.json", "hyperparameters_racing.json"),
}


def preset_files(name: str) -> tuple[Path, Path]:
    """(model_metadata.json path, hyperparameters.json path) of a named preset (see presets/README.md)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    metadata, hyper = PRESETS[name]
    return PRESETS_DIR / metadata, PRESETS_DIR / hyper
