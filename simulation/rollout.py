"""Play episodes with a published policy on a BatchedEnv or a MultiTrackEnv: K cars at once, exactly
N episodes, each episode and sim-trace row naming the track it ran on.

Used by the rollout worker (training and per-iteration evaluation episodes) and by evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from core import race_status as rs
from core.messages import Episode
from core.traces import TRACK_COLUMN

from .env import BatchedEnv, StepBatch
from .multi_env import MultiTrackEnv, car_tracks, park


class Policy(Protocol):
    def act(self, obs: dict[str, np.ndarray], rng: np.random.Generator, greedy: bool = False,
            with_values: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass
class _Buffer:
    obs: dict[str, list] = field(default_factory=dict)
    actions: list = field(default_factory=list)
    log_probs: list = field(default_factory=list)
    values: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    start_ms: float = 0.0


def simtrace_rows(r: StepBatch, actions: np.ndarray, discrete: bool, track_length_m: float | np.ndarray,
                  cars: np.ndarray, track_names: str | Sequence[str] | None = None) -> list[dict]:
    """Sim-trace rows (spec section 5) of the given cars for one step.

    ``track_length_m``: one length [m] for every car, or (K,) per car; ``track_names``: the track's
    name, or (K,) names per car, written in the rows' ``track`` column (core.traces); None: no such
    column (the reference's columns only)."""
    now = time.time()
    lengths = np.broadcast_to(np.asarray(track_length_m, np.float64), (len(r.reward),))
    names = [track_names] * len(r.reward) if isinstance(track_names, str) else track_names
    rows = []
    for i in cars.tolist():
        action = int(actions[i]) if discrete else f"[{r.steering_deg[i]:.4f} {r.speed_mps[i]:.4f}]"
        row = {
            "episode": int(r.episode[i]), "steps": int(r.steps[i]), "X": float(r.x[i]), "Y": float(r.y[i]),
            "yaw": float(r.yaw_deg[i]), "steer": float(r.steering_deg[i]), "throttle": float(r.speed_mps[i]),
            "action": action, "reward": float(r.reward[i]), "done": bool(r.done[i]),
            "all_wheels_on_track": bool(r.all_wheels_on_track[i]), "progress": float(r.progress[i]),
            "closest_waypoint": int(r.closest_waypoint[i]), "track_len": float(lengths[i]),
            "tstamp": float(r.sim_time_s[i]), "episode_status": rs.STATUSES[int(r.status[i])],
            "pause_duration": float(r.pause_s[i]), "obstacle_crash_counter": int(r.crash_count[i]), "wall_clock": now,
        }
        if names is not None:
            row[TRACK_COLUMN] = names[i]
        rows.append(row)
    return rows


def play(env: BatchedEnv | MultiTrackEnv, policy: Policy, num_episodes: int, *, greedy: bool,
         rng: np.random.Generator, run_id: str = "", iteration: int = 0, worker: int = 0, phase: str = "training",
         on_rows: Callable[[list[dict]], None] | None = None, keep_obs: bool = True,
         with_values: bool = True, car_order: Sequence[int] | None = None,
         on_obs: Callable[[dict[str, np.ndarray]], object] | None = None) -> list[Episode]:
    """Play exactly ``num_episodes`` episodes with up to ``env.k`` cars in parallel.

    Cars start new episodes while some are still owed; the others park when they finish. Returns
    the episodes in the order they finished (ids from the env's episode counter), each naming the
    track its car drove (``Episode.track``; the sim-trace rows' ``track`` column). Without
    ``with_values`` the episodes carry zero values (the trainer computes its own). ``car_order``:
    which cars start first when there are fewer episodes than cars (default: car 0, 1, ...; on a
    MultiTrackEnv that picks the tracks in turn from track 0). ``on_obs(obs)`` is called before every
    step with every car's observations (the live viewer's previews).
    """
    obs = env.reset()
    k = env.k
    started = min(k, num_episodes)
    order = np.arange(k) if car_order is None else np.asarray(car_order, np.int64)
    if sorted(order.tolist()) != list(range(k)):
        raise ValueError(f"car_order must hold each of the {k} cars once, got {order.tolist()}")
    active = np.zeros(k, bool)
    active[order[:started]] = True
    park(env, np.flatnonzero(~active))   # cars beyond the quota sit out from the start
    bufs = [_Buffer(start_ms=time.time() * 1000) for _ in range(k)]
    done_eps: list[Episode] = []
    discrete = env.metadata.is_discrete
    tracks = car_tracks(env)
    names = [t.name for t in tracks]
    lengths = np.array([t.length_m for t in tracks])
    while len(done_eps) < num_episodes:
        if on_obs is not None:
            on_obs(obs)
        live = np.flatnonzero(active)  # the policy runs only for cars still driving
        a_live, lp_live, v_live = policy.act({n: v[live] for n, v in obs.items()}, rng, greedy, with_values)
        actions = np.zeros((k,) + a_live.shape[1:], a_live.dtype)
        log_probs = np.zeros(k, np.float32)
        values = np.zeros(k, np.float32)
        actions[live], log_probs[live], values[live] = a_live, lp_live, v_live
        owed = num_episodes - started
        r = env.step(actions, max_resets=owed)
        if on_rows is not None:
            on_rows(simtrace_rows(r, actions, discrete, lengths, np.flatnonzero(active), names))
        for i in np.flatnonzero(active).tolist():
            b = bufs[i]
            if keep_obs:
                for name, v in obs.items():
                    b.obs.setdefault(name, []).append(v[i])
            b.actions.append(actions[i])
            b.log_probs.append(log_probs[i])
            b.values.append(values[i])
            b.rewards.append(r.reward[i])
            if r.done[i]:
                done_eps.append(Episode(
                    run_id=run_id, iteration=iteration, worker=worker, episode_id=int(r.episode[i]), phase=phase,
                    obs={n: np.stack(v) for n, v in b.obs.items()},
                    actions=np.asarray(b.actions), log_probs=np.asarray(b.log_probs, np.float32),
                    values=np.asarray(b.values, np.float32), rewards=np.asarray(b.rewards, np.float32),
                    status=rs.STATUSES[int(r.status[i])], progress=float(r.progress[i]),
                    start_time_ms=b.start_ms, end_time_ms=time.time() * 1000, track=names[i],
                    extra={"truncated": bool(r.truncated[i])}))
                bufs[i] = _Buffer(start_ms=time.time() * 1000)
                if r.reset[i]:
                    started += 1
                else:
                    active[i] = False
        obs = r.obs
    return done_eps
