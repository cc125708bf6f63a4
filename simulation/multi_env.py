"""K cars spread over several tracks, stepped together: one BatchedEnv per track behind one interface.

A model trained on several tracks (one run spec per track) can give each sim its own track, or
spread every sim's cars over all the tracks; the second is this env. Car ``c`` drives track
``c mod n`` (n tracks), so the first ``m`` cars cover the tracks evenly whatever ``m`` is
(rollout.play starts cars in car order). Each track keeps its own BatchedEnv with its share of the
cars, its run spec's race options, its own reward-function copies and its own round robin of start
positions; this class only routes actions to the tracks' envs and puts their results back in car
order.

Episode ids are this env's own, unique over all its tracks and numbered in car order as BatchedEnv
numbers them (from ``episode_offset``, one more for every episode started), so an episode is
identified by (worker, episode id) whichever track it ran on. The reward function's ``episode``
argument (and its fault messages) show the track env's own count.

``car_tracks(env)`` and ``park(env, cars)`` work on a BatchedEnv and a MultiTrackEnv alike: they are
what the rollout loop needs beyond ``reset``/``step``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Sequence

import numpy as np

from core.config import ModelMetadata, as_model_metadata

from .env import BatchedEnv, StepBatch
from .race import RaceConfig
from .track import Track


@dataclass(frozen=True)
class TrackSetup:
    """One track of a MultiTrackEnv: the route, its run spec's race options, and whether the camera's
    lighting and colours change per episode."""

    track: Track
    race: RaceConfig = field(default_factory=RaceConfig)
    domain_randomization: bool = False


class MultiTrackEnv:
    """K cars on ``len(setups)`` tracks (car c on track c mod n), with BatchedEnv's interface:
    ``k``, ``metadata``, ``observation_space``, ``action_space``, ``reset``, ``step`` (a StepBatch of
    all K cars in car order) and ``done``; plus ``car_tracks`` and ``park``.

    ``reward_function``: None (the default reward) or a file path, loaded once per track with one
    copy per car there; or ``reward_factory(copies)`` making one reward function per track (the
    sims' IsolatedRewardFunction). ``seed`` seeds every track's env (each its own stream).
    """

    def __init__(self, setups: Sequence[TrackSetup], model_metadata: ModelMetadata | dict | str | os.PathLike | None,
                 num_cars: int, *, reward_function: str | os.PathLike | None = None,
                 reward_factory: Callable[[int], Any] | None = None, seed: int | None = None,
                 autoreset: bool = True, episode_offset: int = 0):
        self.setups = tuple(setups)
        n = len(self.setups)
        if n < 1:
            raise ValueError("a MultiTrackEnv needs at least one track")
        self.k = int(num_cars)
        if self.k < n:
            raise ValueError(f"num_cars ({num_cars}) must be at least the number of tracks ({n}), so every track "
                             "has a car")
        if reward_function is not None and reward_factory is not None:
            raise ValueError("give reward_function or reward_factory, not both")
        self.metadata = as_model_metadata(model_metadata)
        #: (K,) index into ``setups`` of the track each car drives
        self.car_track_index = np.arange(self.k) % n
        #: the cars of each track, in car order (the track env's car i is car _cars[track][i])
        self._cars = [np.flatnonzero(self.car_track_index == t) for t in range(n)]
        self.car_tracks: tuple[Track, ...] = tuple(self.setups[t].track for t in self.car_track_index)
        self.envs = [BatchedEnv(s.track, reward_factory(len(cars)) if reward_factory else reward_function,
                                self.metadata, s.race, num_cars=len(cars), seed=sub_seed, autoreset=autoreset,
                                domain_randomization=s.domain_randomization, episode_offset=episode_offset)
                     for s, cars, sub_seed in zip(self.setups, self._cars, _sub_seeds(seed, n))]
        first = self.envs[0]
        self.sensor_names = first.sensor_names
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self._episode_offset = self._next_episode = int(episode_offset)
        self.episode = np.zeros(self.k, np.int64)   # (K,) this env's id of each car's current episode
        self._turn = 0                              # which track may restart cars first on the next step

    # ------------------------------------------------------------------ what the rollout needs
    @property
    def done(self) -> np.ndarray:
        """(K,) bool: the car's episode ended and it waits for ``reset`` (a copy; use ``park`` to set it)."""
        return self._gather([e.done for e in self.envs])

    def park(self, cars) -> None:
        """Keep ``cars`` (indices) out of the coming steps until ``reset``, as BatchedEnv's ``done[cars] = True``."""
        for c in np.asarray(cars, np.int64).reshape(-1).tolist():
            t = int(self.car_track_index[c])
            self.envs[t].done[c // len(self.setups)] = True

    @property
    def reward_time_s(self) -> float:
        """Seconds spent in the reward function, all tracks together."""
        return sum(e.reward_time_s for e in self.envs)

    def cars_on(self, track: int) -> np.ndarray:
        """The cars (indices, ascending) that drive ``setups[track]``."""
        return self._cars[track].copy()

    # ------------------------------------------------------------------ reset / step
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start a new episode on every car; returns the first observations (K, ...). A seeded reset
        replays from the first episode on every track."""
        if seed is not None:
            self._next_episode = self._episode_offset
            self._turn = 0
        seeds = _sub_seeds(seed, len(self.envs)) if seed is not None else [None] * len(self.envs)
        obs = [e.reset(seed=s) for e, s in zip(self.envs, seeds)]
        self.episode = self._next_episode + np.arange(self.k, dtype=np.int64)
        self._next_episode += self.k
        return self._gather_obs(obs)

    def step(self, actions, max_resets: int | None = None) -> StepBatch:
        """One step of every car (see BatchedEnv.step). ``actions`` are in car order. At most
        ``max_resets`` finished cars start a new episode, over all tracks together; the tracks take
        turns being first to restart theirs, so near the end of a quota no track is favoured."""
        a = np.asarray(actions)
        if len(a) != self.k:
            raise ValueError(f"expected actions for {self.k} cars, got {len(a)}")
        n = len(self.envs)
        results: list[StepBatch | None] = [None] * n
        left = None if max_resets is None else max(0, int(max_resets))
        for t in [(self._turn + j) % n for j in range(n)]:
            r = self.envs[t].step(a[self._cars[t]], max_resets=left)
            if left is not None:
                left -= int(r.reset.sum())
            results[t] = r
        self._turn = (self._turn + 1) % n
        merged = {f.name: self._gather([getattr(r, f.name) for r in results]) for f in fields(StepBatch)
                  if f.name not in ("obs", "episode")}
        out = StepBatch(obs=self._gather_obs([r.obs for r in results]), episode=self.episode.copy(), **merged)
        restarted = np.flatnonzero(out.reset)
        self.episode[restarted] = self._next_episode + np.arange(restarted.size)
        self._next_episode += restarted.size
        return out

    # ------------------------------------------------------------------ car order
    def _gather(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """Per-track arrays (K_t, ...) -> one (K, ...) array in car order."""
        out = np.empty((self.k,) + parts[0].shape[1:], np.result_type(*parts))
        for cars, part in zip(self._cars, parts):
            out[cars] = part
        return out

    def _gather_obs(self, parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: self._gather([p[name] for p in parts]) for name in parts[0]}


def _sub_seeds(seed: int | None, n: int) -> list[int | None]:
    """One seed per track env from ``seed`` (None: fresh entropy for each)."""
    if seed is None:
        return [None] * n
    return [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(n)]


def car_tracks(env: BatchedEnv | MultiTrackEnv) -> tuple[Track, ...]:
    """The track each of the env's K cars drives (driving-direction copies aside: the route as loaded)."""
    if isinstance(env, MultiTrackEnv):
        return env.car_tracks
    return (env.tracks.forward,) * env.k


def park(env: BatchedEnv | MultiTrackEnv, cars) -> None:
    """Keep ``cars`` out of the coming steps until the next ``reset`` (done, without a new episode)."""
    if isinstance(env, MultiTrackEnv):
        env.park(cars)
    else:
        env.done[np.asarray(cars, np.int64)] = True


__all__ = ["TrackSetup", "MultiTrackEnv", "car_tracks", "park"]
