"""Messages between simulation workers and the trainer: plain arrays in msgpack, never pickle.

An ndarray travels as a msgpack map {"nd": dtype string, "shape": [...], "data": raw bytes}; only
numeric and bool dtypes are accepted on decode, so nothing read from a transport can run code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import msgpack
import numpy as np

ALLOWED_DTYPES = {"uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "float16", "float32",
                  "float64", "bool"}


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
        dtype = obj["nd"]
        if dtype not in ALLOWED_DTYPES:
            raise MessageError(f"array of dtype {dtype!r} refused")
        arr = np.frombuffer(obj["data"], dtype=np.dtype(dtype))
        return arr.reshape(obj["shape"])
    return obj


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, object_hook=_object_hook, raw=False, strict_map_key=True)
    except (msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError, ValueError, TypeError) as exc:
        raise MessageError(f"unreadable message: {exc}") from None


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
    def from_bytes(cls, data: bytes) -> "Episode":
        msg = unpack(data)
        if not isinstance(msg, dict) or msg.get("type") != "episode":
            raise MessageError("not an episode message")
        msg.pop("type")
        names = {f.name for f in fields(cls)}
        missing = names - set(msg) - {"track", "extra"}
        if missing or set(msg) - names:
            raise MessageError(f"episode message fields wrong: missing {sorted(missing)}, unknown {sorted(set(msg) - names)}")
        ep = cls(**msg)
        t = len(ep.rewards)
        if any(len(a) != t for a in (ep.actions, ep.log_probs, ep.values)) or any(len(v) != t for v in ep.obs.values()):
            raise MessageError(f"episode {ep.episode_id}: arrays of different lengths")
        return ep


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
    msg = unpack(data)
    if not isinstance(msg, dict) or msg.get("type") != "policy":
        raise MessageError("not a policy notice")
    try:
        return PolicyNotice(int(msg["version"]), bool(msg["stop"]), {int(w): int(n) for w, n in msg.get("shares", [])})
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"malformed policy notice: {exc}") from None
