"""Messages between simulation workers and the trainer: plain arrays in msgpack, never pickle.

An ndarray travels as a msgpack map {"nd": dtype string, "shape": [...], "data": raw bytes}; only
numeric and bool dtypes are accepted on decode, so nothing read from a transport can run code.

Everything read from a transport is checked here, at the boundary, before any other code sees it:
``Episode.from_bytes(data, spec)`` returns an episode whose fields have the declared types and whose
arrays have the shapes, dtypes, lengths and (finite) values an ``EpisodeSpec`` of the model allows,
or raises MessageError saying which field is wrong and what is allowed; ``read_policy_notice`` does
the same for policy notices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

import msgpack
import numpy as np

from . import race_status as rs
from .observations import observation_dtype, observation_shape

if TYPE_CHECKING:
    from .config import ModelMetadata

ALLOWED_DTYPES = {"uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "float16", "float32",
                  "float64", "bool"}


#: Largest |reward| of one step: the reference rejects a reward function value beyond it (spec
#: section 1); the simulator's reward wrapper (simulation.reward) and the episode checks both use it.
REWARD_LIMIT = 1e5


class MessageError(ValueError):
    """A message that is not a well-formed episode or notice."""


def _default(obj: Any):
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        if arr.dtype.name not in ALLOWED_DTYPES:
            raise MessageError(f"cannot send arrays of dtype {arr.dtype}; allowed: {sorted(ALLOWED_DTYPES)}")
        return {"nd": arr.dtype.name, "shape": list(arr.shape), "data": arr.tobytes()}
    if isinstance(obj, np.generic):
        return obj.item()
    raise MessageError(f"cannot send a {type(obj).__name__} in a message")


def _object_hook(obj: dict):
    if "nd" in obj and "data" in obj:
        dtype, shape, data = obj["nd"], obj.get("shape"), obj["data"]
        if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
            raise MessageError(f"array of dtype {_short(dtype)} refused")
        if (not isinstance(shape, list) or not isinstance(data, bytes)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise MessageError("malformed array: needs a shape (a list of sizes >= 0) and raw bytes")
        return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    return obj


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError(f"unreadable message: a {type(data).__name__}, not bytes")
    try:
        return msgpack.unpackb(data, object_hook=_object_hook, raw=False, strict_map_key=True)
    except (msgpack.exceptions.UnpackException, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise MessageError(f"unreadable message: {exc}") from None


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (a hostile field can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


#: Episode phases: training episodes feed the update, greedy evaluation episodes pick the best checkpoint.
PHASES = ("training", "evaluation")
#: Longest episode accepted [steps] (RaceConfig.max_steps defaults to 10,000; a frame holds at most
#: core.transport.MAX_FRAME_BYTES anyway).
MAX_EPISODE_STEPS = 1_000_000


@dataclass(frozen=True)
class EpisodeSpec:
    """What a well-formed episode of one model looks like; build it with ``from_metadata``.

    ``sensors``: sensor name -> (per-step observation shape, dtype), from core.observations (the one
    home of those facts); ``num_actions``: the discrete action count (actions are ints in
    [0, num_actions)), or None for a continuous action space (actions (T, 2) finite floats: the
    policy's Gaussian samples, unclipped, so they may lie outside [-1, 1]); ``max_steps``: the
    longest episode accepted.
    """

    sensors: Mapping[str, tuple[tuple[int, ...], np.dtype]]
    num_actions: int | None
    max_steps: int = MAX_EPISODE_STEPS

    @classmethod
    def from_metadata(cls, metadata: "ModelMetadata", max_steps: int = MAX_EPISODE_STEPS) -> "EpisodeSpec":
        return cls({s: (observation_shape(s, metadata.lidar_config), observation_dtype(s)) for s in metadata.sensors},
                   metadata.num_actions if metadata.is_discrete else None, int(max_steps))


@dataclass
class Episode:
    """One finished episode of one car, as a worker sends it.

    Arrays have leading dim T (steps). ``actions`` are ints (discrete) or (T, 2) floats in the
    policy's [-1, 1] scale; ``log_probs`` and ``values`` are what the published policy computed.
    """

    run_id: str
    iteration: int          # the policy version that played it
    worker: int
    episode_id: int
    phase: str              # "training" or "evaluation"
    obs: dict[str, np.ndarray]
    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    status: str             # core.race_status name of the last step
    progress: float         # 0-100
    start_time_ms: float
    end_time_ms: float
    track: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(len(self.rewards))

    @property
    def key(self) -> tuple:
        """What makes an episode unique (duplicates are dropped on this key)."""
        return (self.run_id, self.iteration, self.worker, self.episode_id, self.phase)

    def to_bytes(self) -> bytes:
        return pack({"type": "episode", **{f.name: getattr(self, f.name) for f in fields(self)}})

    @classmethod
    def from_bytes(cls, data: bytes, spec: EpisodeSpec | None = None) -> "Episode":
        """Decode and check an episode (see ``validate_episode``); raises MessageError saying why not."""
        msg = unpack(data)
        if not isinstance(msg, dict) or msg.get("type") != "episode":
            raise MessageError("not an episode message")
        msg.pop("type")
        if not all(isinstance(k, str) for k in msg):
            raise MessageError("episode message fields wrong: field names must be strings")
        names = {f.name for f in fields(cls)}
        missing = names - set(msg) - {"track", "extra"}
        if missing or set(msg) - names:
            raise MessageError(f"episode message fields wrong: missing {sorted(missing)}, "
                               f"unknown {[_short(k) for k in sorted(set(msg) - names)][:5]}")
        return validate_episode(cls(**msg), spec)


def _integer(ep: Episode, name: str) -> int:
    value = getattr(ep, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MessageError(f"episode field {name} must be an integer >= 0, got {_short(value)}")
    return value


def _real(ep: Episode, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    value = getattr(ep, name)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not lo <= value <= hi):
        raise MessageError(f"episode field {name} must be a finite number in [{lo:g}, {hi:g}], got {_short(value)}")
    return float(value)


def _float_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as finite float32 of ``shape``, or MessageError."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != shape:
        got = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise MessageError(f"{name} must be a float array of shape {shape}, got {got}")
    with np.errstate(over="ignore"):
        out = value.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise MessageError(f"{name} holds non-finite values (NaN, inf, or beyond float32)")
    return out


def validate_episode(ep: Episode, spec: EpisodeSpec | None = None) -> Episode:
    """``ep`` with its fields checked and its arrays in their canonical dtypes; MessageError if any is wrong.

    Always: ``run_id``, ``status`` (a core.race_status name), ``track`` strings; ``iteration``,
    ``worker``, ``episode_id`` ints >= 0; ``phase`` in PHASES; ``progress`` finite in [0, 100];
    times finite; ``extra`` a dict of scalars (``truncated`` a bool); T = len(rewards) with
    1 <= T <= max_steps; ``rewards``, ``log_probs``, ``values`` (T,) finite floats (returned as
    float32); ``actions`` (T,) ints >= 0 (returned as int64) or (T, 2) finite floats (float32);
    every observation an array of T steps, finite where it is float.
    With ``spec``: ``obs`` holds exactly the spec's sensors (an evaluation episode may carry none)
    with the spec's per-step shape and dtype; actions are of the spec's kind, discrete ones below
    ``num_actions``; T <= ``spec.max_steps``.
    """
    for name in ("run_id", "status", "track"):
        if not isinstance(getattr(ep, name), str):
            raise MessageError(f"episode field {name} must be a string, got {_short(getattr(ep, name))}")
    for name in ("iteration", "worker", "episode_id"):
        _integer(ep, name)
    where = f"episode {ep.episode_id} of worker {ep.worker}"
    if ep.phase not in PHASES:
        raise MessageError(f"{where}: phase {_short(ep.phase)} is not one of {', '.join(PHASES)}")
    if ep.status not in rs.STATUSES:
        raise MessageError(f"{where}: status {_short(ep.status)} is not one of {', '.join(rs.STATUSES)}")
    progress = _real(ep, "progress", 0.0, 100.0)
    start, end = _real(ep, "start_time_ms"), _real(ep, "end_time_ms")
    if not isinstance(ep.extra, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, (bool, int, float, str))) for k, v in ep.extra.items()):
        raise MessageError(f"{where}: extra must be a map of names to scalars")
    if not isinstance(ep.extra.get("truncated", False), bool):
        raise MessageError(f"{where}: extra.truncated must be a bool, got {_short(ep.extra['truncated'])}")
    if not isinstance(ep.rewards, np.ndarray) or ep.rewards.ndim != 1:
        raise MessageError(f"{where}: rewards must be a 1-D float array, got {_short(ep.rewards)}")
    t = len(ep.rewards)
    max_steps = spec.max_steps if spec is not None else MAX_EPISODE_STEPS
    if not 1 <= t <= max_steps:
        raise MessageError(f"{where}: {t} steps; an episode has 1 to {max_steps}")
    rewards = _float_array(f"{where}: rewards", ep.rewards, (t,))
    if t and float(np.abs(rewards).max()) > REWARD_LIMIT:
        raise MessageError(f"{where}: a reward of {float(np.abs(rewards).max()):g} is beyond the reference's "
                           f"limit of {REWARD_LIMIT:g}")
    log_probs = _float_array(f"{where}: log_probs", ep.log_probs, (t,))
    values = _float_array(f"{where}: values", ep.values, (t,))

    a = ep.actions
    discrete = (spec.num_actions is not None) if spec is not None else (isinstance(a, np.ndarray) and a.ndim == 1)
    if discrete:
        n = spec.num_actions if spec is not None else None
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.shape != (t,):
            got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise MessageError(f"{where}: actions must be an int array of shape ({t},), got {got}")
        if t and (a.min() < 0 or (n is not None and a.max() >= n)):
            raise MessageError(f"{where}: action index {int(a.min() if a.min() < 0 else a.max())} out of range; "
                               f"allowed 0 to {n - 1 if n is not None else 'the action count - 1'}")
        actions = a.astype(np.int64, copy=False)
    else:
        actions = _float_array(f"{where}: actions (steering, speed)", a, (t, 2))

    if not isinstance(ep.obs, dict):
        raise MessageError(f"{where}: obs must be a map of sensor name to array, got {type(ep.obs).__name__}")
    if spec is not None and set(ep.obs) != set(spec.sensors) and (ep.obs or ep.phase != "evaluation"):
        raise MessageError(f"{where}: observation sensors {[_short(k) for k in sorted(map(str, ep.obs))][:5]} "
                           f"are not the model's {sorted(spec.sensors)}")
    obs: dict[str, np.ndarray] = {}
    for name, x in ep.obs.items():
        shape, dtype = spec.sensors[name] if spec is not None else (None, None)
        if not isinstance(x, np.ndarray) or x.ndim < 1 or len(x) != t:
            got = f"shape {x.shape}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
            raise MessageError(f"{where}: observation {name!r} must be an array of {t} steps, got {got}")
        if spec is not None and (x.shape[1:] != shape or x.dtype != dtype):
            raise MessageError(f"{where}: observation {name!r} is {x.dtype} of shape {x.shape}; "
                               f"expected {dtype} of shape ({t}, {', '.join(map(str, shape))})")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise MessageError(f"{where}: observation {name!r} holds non-finite values")
        obs[name] = x
    return Episode(run_id=ep.run_id, iteration=ep.iteration, worker=ep.worker, episode_id=ep.episode_id,
                   phase=ep.phase, obs=obs, actions=actions, log_probs=log_probs, values=values, rewards=rewards,
                   status=ep.status, progress=progress, start_time_ms=start, end_time_ms=end, track=ep.track,
                   extra=dict(ep.extra))


class WorkerFault(Exception):
    """A worker stopped on a fault it reported (e.g. the user's reward function failed); the message
    is the worker's own, ready for the user (file, line, episode, step, params)."""


def fault_message(worker: int, kind: str, text: str) -> bytes:
    """A worker's report that it stopped on a fault (sent on the episode channel, read by the learner)."""
    return pack({"type": "fault", "worker": int(worker), "kind": str(kind), "message": str(text)})


def read_fault(data: bytes) -> tuple[int, str, str] | None:
    """(worker, kind, message) when ``data`` is a fault message, else None (an episode, or garbage)."""
    try:
        msg = unpack(data)
    except MessageError:
        return None
    if not isinstance(msg, dict) or msg.get("type") != "fault":
        return None
    worker, kind, text = msg.get("worker"), msg.get("kind"), msg.get("message")
    if not isinstance(worker, int) or not isinstance(kind, str) or not isinstance(text, str):
        return None
    return worker, kind, text[:20000]


class PolicyNotice(NamedTuple):
    """Policy ``version`` is published; ``shares`` maps worker id -> training episodes it plays for it
    (workers not listed sit this iteration out: they joined after it started); ``stop`` ends the run."""

    version: int
    stop: bool
    shares: dict[int, int]


def policy_notice(version: int, stop: bool = False, shares: dict[int, int] | None = None, trainer: str = "") -> bytes:
    """The trainer's notice that policy ``version`` is published (or that workers should stop).
    ``trainer`` identifies the trainer process, so a restarted trainer's notices differ from its
    predecessor's."""
    return pack({"type": "policy", "version": int(version), "stop": bool(stop),
                 "shares": [[int(w), int(n)] for w, n in (shares or {}).items()], "trainer": str(trainer)})


def read_policy_notice(data: bytes) -> PolicyNotice:
    """The notice in ``data``; MessageError unless ``version`` is an int >= 0, ``stop`` a bool and
    ``shares`` a list of [worker id >= 0, episodes >= 0] pairs of ints."""
    msg = unpack(data)
    if not isinstance(msg, dict) or msg.get("type") != "policy":
        raise MessageError("not a policy notice")

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    version, stop, shares = msg.get("version"), msg.get("stop"), msg.get("shares", [])
    if not count(version) or not isinstance(stop, bool):
        raise MessageError(f"malformed policy notice: version {_short(version)} (an int >= 0 wanted), "
                           f"stop {_short(stop)} (a bool wanted)")
    if not isinstance(shares, list) or not all(isinstance(p, list) and len(p) == 2 and count(p[0]) and count(p[1])
                                               for p in shares):
        raise MessageError(f"malformed policy notice: shares {_short(shares)}; expected [[worker, episodes], ...] "
                           "of ints >= 0")
    return PolicyNotice(version, stop, {w: n for w, n in shares})
