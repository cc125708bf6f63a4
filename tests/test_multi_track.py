"""One model on several tracks: a sim's cars spread over the tracks (MultiTrackEnv), or each sim on its
own track, with episodes, sim-traces and metrics naming the track each episode ran on."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from core import race_status as rs
from core.config import ConfigError, preset_files
from core.messages import Episode, policy_notice
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from core.traces import SIMTRACE_COLUMNS, TRACK_COLUMN, TrainingMetrics, sim_trace_log_line, simtrace_csv
from simulation.env import BatchedEnv
from simulation.multi_env import MultiTrackEnv, TrackSetup, car_tracks
from simulation.race import RaceConfig
from simulation.rollout import play
from simulation.track import Track
from simulation.worker import MULTI_TRACK_MODES, WorkerConfig, resolve_multi_track

METADATA, HYPERPARAMETERS = preset_files("state")
TRACKS = ("reinvent_base", "Vegas_track", "Oval_track")


class RandomPolicy:
    """Uniform random discrete actions: short episodes, every status path of the env."""

    def act(self, obs, rng, greedy=False, with_values=True):
        n = len(next(iter(obs.values())))
        return rng.integers(0, 5, n), np.zeros(n, np.float32), np.zeros(n, np.float32)


def _env(n_tracks: int, cars: int, seed: int = 3, **race) -> MultiTrackEnv:
    setups = [TrackSetup(Track.load(name), RaceConfig.from_dict(race)) for name in TRACKS[:n_tracks]]
    return MultiTrackEnv(setups, METADATA, cars, seed=seed)


def _rows_by_episode(text: str) -> dict[int, list[dict]]:
    out = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):
        out[int(row["episode"])].append(row)
    return out


# ---------------------------------------------------------------------------------------- the env

def test_cars_are_dealt_to_the_tracks_in_turn():
    env = _env(3, 7)
    assert [t.name for t in car_tracks(env)] == [TRACKS[i % 3] for i in range(7)]
    assert [env.cars_on(t).tolist() for t in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert env.reset()["STATE"].shape == (7,) + env.observation_space["STATE"].shape
    with pytest.raises(ValueError, match="at least the number of tracks"):
        _env(3, 2)


def test_each_car_drives_its_own_track_exactly_as_a_single_track_env_would():
    """Every car of the multi-track env steps as the same car of a one-track BatchedEnv (same seed,
    same actions): positions, rewards, progress, statuses and observations in car order."""
    seed, cars = 11, 7
    env = _env(3, 7, seed=seed)
    sub_seeds = np.random.SeedSequence(seed).generate_state(3)
    twins = [BatchedEnv(Track.load(TRACKS[t]), None, METADATA, RaceConfig(), num_cars=len(env.cars_on(t)),
                        seed=int(sub_seeds[t])) for t in range(3)]
    obs = env.reset()
    twin_obs = [tw.reset() for tw in twins]
    rng = np.random.default_rng(0)
    owner: dict[int, str] = {}
    finished = 0
    for _ in range(120):
        for t, tw in enumerate(twins):
            np.testing.assert_array_equal(obs["STATE"][env.cars_on(t)], twin_obs[t]["STATE"])
        actions = rng.integers(0, 5, cars)
        r = env.step(actions)
        twin_r = [tw.step(actions[env.cars_on(t)]) for t, tw in enumerate(twins)]
        for t, tr in enumerate(twin_r):
            mine = env.cars_on(t)
            for name in ("x", "y", "reward", "progress", "status", "steps", "done", "reset", "closest_waypoint"):
                np.testing.assert_array_equal(getattr(r, name)[mine], getattr(tr, name), err_msg=name)
        for c, (eid, track) in enumerate(zip(r.episode.tolist(), car_tracks(env))):
            assert owner.setdefault(eid, track.name) == track.name     # an episode id names one car's episode
        finished += int(r.done.sum())
        obs, twin_obs = r.obs, [tr.obs for tr in twin_r]
    # every restart took a new id, none reused (the episodes started by the last step show their ids only at
    # the next: a step reports the episode it belonged to)
    assert finished > 10 and len(owner) == cars + finished - int(r.done.sum())
    assert sorted(owner) == list(range(len(owner)))          # numbered in turn, as BatchedEnv numbers them


def test_parked_cars_stay_put_and_the_restart_quota_holds_over_all_tracks():
    env = _env(2, 6)
    env.reset()
    env.park([1, 4])
    assert env.done.tolist() == [False, True, False, False, True, False]
    rng = np.random.default_rng(1)
    restarts = 0
    for _ in range(80):
        r = env.step(rng.integers(0, 5, 6), max_resets=max(0, 3 - restarts))
        assert (r.status[[1, 4]] == rs.PARK).all() and not r.reset[[1, 4]].any()
        restarts += int(r.reset.sum())
    assert restarts == 3                     # three new episodes in all, whichever track finished first


@pytest.mark.parametrize("episodes", [1, 5, 6, 23])
def test_play_gives_exactly_n_episodes_each_naming_its_track(episodes):
    env = _env(2, 6)
    rows: list[dict] = []
    eps = play(env, RandomPolicy(), episodes, greedy=False, rng=np.random.default_rng(2), on_rows=rows.extend)
    assert len(eps) == episodes and len({e.episode_id for e in eps}) == episodes
    if episodes <= env.k:                   # all start at once: the tracks share them evenly
        counts = Counter(e.track for e in eps)
        assert [counts[t] for t in TRACKS[:2]] == [episodes - episodes // 2, episodes // 2]   # car 0's track first
    if episodes >= 6:
        assert {e.track for e in eps} == set(TRACKS[:2])
    text = simtrace_csv(rows)
    header = text.splitlines()[0].split(",")
    assert header == list(SIMTRACE_COLUMNS) + [TRACK_COLUMN]     # the reference's order, then the track
    by_episode = _rows_by_episode(text)
    lengths = {name: Track.load(name).length_m for name in TRACKS[:2]}
    for ep in eps:
        steps = by_episode[ep.episode_id]
        assert {row["track"] for row in steps} == {ep.track}       # the trace and the episode agree
        assert float(steps[0]["track_len"]) == pytest.approx(lengths[ep.track])
        assert len(steps) == ep.steps and steps[-1]["done"] == "True"


def test_car_order_picks_which_track_plays_first():
    env = _env(3, 6)
    for first in range(3):
        order = np.roll(np.arange(6), -first)
        (ep,) = play(env, RandomPolicy(), 1, greedy=True, rng=np.random.default_rng(0), car_order=order)
        assert ep.track == TRACKS[first]
    with pytest.raises(ValueError, match="each of the 6 cars once"):
        play(env, RandomPolicy(), 1, greedy=True, rng=np.random.default_rng(0), car_order=[0, 0, 1, 2, 3, 4])


def test_a_single_track_env_still_plays_with_its_track_named():
    env = BatchedEnv("reinvent", None, METADATA, num_cars=3, seed=0)
    rows: list[dict] = []
    eps = play(env, RandomPolicy(), 4, greedy=False, rng=np.random.default_rng(0), on_rows=rows.extend)
    assert len(eps) == 4 and {e.track for e in eps} == {"reinvent_base"}
    assert {r["track"] for r in rows} == {"reinvent_base"}


# ---------------------------------------------------------------------------------------- traces

def _row(**changes) -> dict:
    row = {"episode": 0, "steps": 1, "X": 1.0, "Y": 2.0, "yaw": 0.0, "steer": 0.0, "throttle": 1.0, "action": 2,
           "reward": 1.0, "done": False, "all_wheels_on_track": True, "progress": 0.5, "closest_waypoint": 1,
           "track_len": 17.7, "tstamp": 0.0, "episode_status": "prepare", "pause_duration": 0.0,
           "obstacle_crash_counter": 0, "wall_clock": 1.0}
    row.update(changes)
    return row


def test_the_track_column_comes_last_and_only_with_the_rows_that_carry_it():
    assert simtrace_csv([_row()]).splitlines()[0] == ",".join(SIMTRACE_COLUMNS)     # the reference's, unchanged
    text = simtrace_csv([_row(track="Vegas_track"), _row(steps=2, track="Vegas_track")])
    assert text.splitlines()[0] == ",".join(SIMTRACE_COLUMNS) + ",track"
    assert text.splitlines()[1].endswith(",1.0,Vegas_track")
    with pytest.raises(ValueError, match="missing \\['track'\\]"):
        simtrace_csv([_row(track="a"), _row()])
    with pytest.raises(ValueError, match="unknown \\['track'\\]"):
        simtrace_csv([_row(), _row(track="a")])
    assert sim_trace_log_line(_row(track="a")) == sim_trace_log_line(_row())       # the log line is the reference's
    m = TrainingMetrics()
    entry = m.add_episode(1.0, 1, 0, "training", 50.0, "off_track", 0, 1000, track="Vegas_track")
    assert entry["track"] == "Vegas_track"
    assert "track" not in m.add_episode(1.0, 2, 0, "training", 50.0, "off_track", 0, 1000)


# ---------------------------------------------------------------------------------------- the worker

def test_multi_track_modes():
    assert MULTI_TRACK_MODES == ("auto", "own", "spread")
    assert resolve_multi_track("auto", 2, 1) == "spread"      # more tracks than sims: none is left out
    assert resolve_multi_track("auto", 2, 2) == "own"
    assert resolve_multi_track("auto", 3, None) == "own"      # sims unknown: today's behaviour
    assert resolve_multi_track("spread", 1, 1) == "own"       # one track: nothing to spread
    assert resolve_multi_track("spread", 2, 4) == "spread" and resolve_multi_track("own", 3, 1) == "own"
    with pytest.raises(ConfigError, match="MULTI_TRACK 'all' is not one of auto, own, spread"):
        resolve_multi_track("all", 2, 1)
    with pytest.raises(ConfigError, match="MULTI_TRACK"):
        WorkerConfig(run_id="r", worker=0, storage=".", model_prefix="m", multi_track="both")
    cfg = WorkerConfig(run_id="r", worker=0, storage=".", model_prefix="m", multi_track="spread")
    assert WorkerConfig.from_json(cfg.to_json()).multi_track == "spread"


class _Feed:
    """An in-process SimTransport: the notices given, then the trainer is gone; episodes are kept."""

    def __init__(self, notices: list[bytes]):
        self.notices, self.sent = list(notices), []

    def send_episode(self, data: bytes) -> None:
        self.sent.append(data)

    def next_notice(self, timeout_s=None) -> bytes:
        from core.transport import TransportError

        if not self.notices:
            raise TransportError("trainer gone")
        return self.notices.pop(0)


def _two_track_model(root: Path, name: str, sims: int) -> ModelFolder:
    from stack.model_setup import SetupRequest, prepare_model

    folder = ModelFolder(LocalStorage(root), name)
    prepare_model(folder, SetupRequest(model=name, preset="state", tracks="reinvent,Vegas_track",
                                       num_workers=sims)).write()
    return folder


@pytest.mark.slow
def test_one_sim_spreads_its_cars_over_both_tracks_and_names_them(tmp_path):
    pytest.importorskip("tensorflow")
    from core.config import load_hyperparameters
    from simulation.worker import Worker
    from stack.model_setup import folder_metadata
    from trainer.algorithm import build_algorithm

    folder = _two_track_model(tmp_path, "m", sims=1)     # the run spec says 1 sim: "auto" spreads
    policy = build_algorithm(folder_metadata(folder), load_hyperparameters(HYPERPARAMETERS)).export()
    folder.storage.put_bytes(folder.frozen_model(0), policy)
    cfg = WorkerConfig(run_id="r", worker=0, storage=str(tmp_path), model_prefix="m", num_cars=6,
                       eval_episodes_per_iteration=2)
    feed = _Feed([policy_notice(0, shares={0: 6}), policy_notice(1, stop=True)])
    worker = Worker(cfg, folder.storage, feed)
    assert worker.multi_track == "spread" and [t.name for t in worker.tracks] == ["reinvent_base", "Vegas_track"]
    assert worker.run() == 0
    eps = [Episode.from_bytes(d) for d in feed.sent]
    train = [e for e in eps if e.phase == "training"]
    evals = [e for e in eps if e.phase == "evaluation"]
    assert len(train) == 6 and Counter(e.track for e in train) == {"reinvent_base": 3, "Vegas_track": 3}
    assert sorted(e.track for e in evals) == ["Vegas_track", "reinvent_base"]     # one evaluation lap on each
    by_episode = _rows_by_episode(folder.read_text(folder.training_simtrace(0, 0, 1)))
    # the sim-trace numbers the training episodes 0, 1, ... in the order they finished (the reference's)
    assert set(by_episode) == set(range(len(train)))
    for i, e in enumerate(train):
        assert {row["track"] for row in by_episode[i]} == {e.track} and len(by_episode[i]) == e.steps
    entries = folder.read_json(folder.training_metrics(0))["metrics"]
    assert Counter((m["phase"], m["track"]) for m in entries) == {
        ("training", "reinvent_base"): 3, ("training", "Vegas_track"): 3,
        ("evaluation", "reinvent_base"): 1, ("evaluation", "Vegas_track"): 1}

    # "own": the second sim drives the second track only, all its cars
    own = Worker(WorkerConfig(run_id="r", worker=1, storage=str(tmp_path), model_prefix="m", num_cars=4,
                              multi_track="own"), folder.storage, _Feed([]))
    assert isinstance(own.env, BatchedEnv) and own.track.name == "Vegas_track" and own.env.k == 4


@pytest.mark.slow
def test_embedded_training_of_one_sim_on_two_tracks(tmp_path):
    """`make train TRACK=reinvent,Vegas_track SIMS=1`: the one sim spreads its cars over both tracks;
    both show in its sim-traces and metrics, and the learner trains on episodes of both."""
    pytest.importorskip("tensorflow")
    from stack.train import TrainRequest, run_training

    hp = json.loads(Path(HYPERPARAMETERS).read_text())
    hp["num_episodes_between_training"] = 8
    (tmp_path / "hp.json").write_text(json.dumps(hp))
    reports, folder = run_training(TrainRequest(track="reinvent,Vegas_track", model="two", preset="state",
                                                hyperparameters=tmp_path / "hp.json", sims=1, episodes=16,
                                                models_dir=tmp_path / "models", seed=0))
    assert len(reports) == 2 and reports[-1].total_episodes == 16
    for it in range(2):
        rows = list(csv.DictReader(io.StringIO(folder.read_text(folder.training_simtrace(it, 0, 1)))))
        assert list(rows[0]) == list(SIMTRACE_COLUMNS) + [TRACK_COLUMN]
        per_track = {(row["track"], row["track_len"]) for row in rows}
        assert {name for name, _ in per_track} == {"reinvent_base", "Vegas_track"} and len(per_track) == 2
    entries = folder.read_json(folder.training_metrics(0))["metrics"]
    training = Counter(m["track"] for m in entries if m["phase"] == "training")
    assert training == {"reinvent_base": 8, "Vegas_track": 8}
