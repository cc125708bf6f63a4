"""DeepRacer configuration files, validated once at the edge into typed objects.

``model_metadata.json`` (spec section 2). Every fault is a ConfigError naming the file, the key and
what is allowed; unknown keys are reported in ``warnings`` (never silently dropped).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def parse_model_metadata(data: Any, source: str = "model_metadata.json") -> ModelMetadata:
    """Validate a model_metadata dict (``source`` names the file in error messages)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    warnings = [f"{source}: unknown key {k!r} ignored (known keys: {', '.join(sorted(_KNOWN_METADATA_KEYS))})"
                for k in data if k not in _KNOWN_METADATA_KEYS]

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
        raise ConfigError(f"{source}: the required key 'action_space' is missing")
    space = data["action_space"]
    discrete: list[DiscreteAction] = []
    continuous = None
    if space_type == "discrete":
        if not isinstance(space, list) or not space:
            raise ConfigError(f"{source}: action_space must be a non-empty list of "
                              '{"steering_angle": deg, "speed": m/s} for a discrete action space')
        for i, a in enumerate(space):
            where = f"{source}: action_space[{i}]"
            if not isinstance(a, dict) or "steering_angle" not in a or "speed" not in a:
                raise ConfigError(f"{where} must be an object with 'steering_angle' (deg) and 'speed' (m/s), got {a!r}")
            extra = set(a) - {"steering_angle", "speed", "index"}
            warnings += [f"{where}: unknown key {k!r} ignored" for k in sorted(extra)]
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
        warnings += [f"{source}: lidar_config: unknown key {k!r} ignored" for k in sorted(set(lc) - _LIDAR_CONFIG_KEYS)]
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
    """Read and validate a model_metadata.json file."""
    return parse_model_metadata(load_json_file(path, "model_metadata.json"), source=str(path))


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
