"""Reward-param geometry against the reference simulator's own numbers (issue 10).

The fixtures in tests/fixtures/conformance/ hold, per track and driving direction, 300 random car poses
(chassis centre x, y, yaw; most on the road up to 0.6 half widths off the centre line with the heading
20 deg around the track direction, some beyond the border), a start position and the previous step's
progress, and the reward params that the DeepRacer simapp v6 computes from them: its own code
(markov.agent_ctrl.utils.set_reward_and_metrics, OffTrackResetRule, TrackData), run out of this tree by
scripts/conformance_golden.py. Here the same poses go through our geometry (TrackPair.measure,
progress_percent, build_params) and every key must agree on at least 99% of the poses of every track:
lengths within 1 cm, progress within 1 cm of lap, heading within 0.001 deg, indices and booleans exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from simulation.car import CarState
from simulation.params import TrackPair, build_params, progress_percent
from simulation.track import Track

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "conformance"
RUNS = sorted(p.stem for p in FIXTURES.glob("*.json"))
#: Least fraction of poses on which a key must agree, per track.
AGREEMENT = 0.99
LENGTH_TOLERANCE_M = 0.01
HEADING_TOLERANCE_DEG = 1e-3
LENGTH_KEYS = ("x", "y", "distance_from_center", "projection_distance", "track_width")
EXACT_KEYS = ("closest_waypoints", "is_left_of_center", "all_wheels_on_track", "is_offtrack")
POSE_KEYS = LENGTH_KEYS + ("heading", "progress") + EXACT_KEYS


@functools.lru_cache(maxsize=None)
def fixture(run: str) -> dict:
    return json.loads((FIXTURES / f"{run}.json").read_text())


@functools.lru_cache(maxsize=None)
def track_pair(name: str) -> TrackPair:
    return TrackPair(Track.load(name))


def lap_progress(pair: TrackPair, arc_m: np.ndarray, start_ndist: np.ndarray, prev_progress: np.ndarray) -> np.ndarray:
    """Progress [%] of cars whose reference points project at ``arc_m`` (driving direction), that started
    with the chassis centre at ``start_ndist`` of a lap and showed ``prev_progress`` a step ago: the
    lap distance grows by the centre-line distance since the last step, wrapped at the finish line, as
    the env accumulates it (BatchedEnv._reset_cars for the first call, BatchedEnv.step after)."""
    length = pair.forward.length_m
    prev_lap = prev_progress / 100.0 * length
    delta = arc_m - start_ndist * length - prev_lap
    if pair.forward.is_loop:
        delta = np.mod(delta + length / 2, length) - length / 2
    return progress_percent(prev_lap + delta, length)


def our_params(run: str) -> list[dict]:
    """Our reward params for the fixture's poses, through the geometry every backend uses."""
    fx = fixture(run)
    pair = track_pair(fx["track"])
    inp = {k: np.asarray(v, dtype=np.float64) for k, v in fx["inputs"].items()}
    k = len(inp["x"])
    zeros = np.zeros(k)
    state = CarState(x=inp["x"], y=inp["y"], yaw=inp["yaw"], speed_mps=zeros.copy(), steering_rad=zeros.copy())
    reversed_ = np.full(k, bool(fx["reversed"]))
    m = pair.measure(state, reversed_)
    progress = lap_progress(pair, m.arc_m, inp["start_ndist"], inp["prev_progress"])
    return build_params(pair, m, reversed_, progress, np.full(k, 2.0), inp["yaw"], np.ones(k), zeros,
                        np.zeros(k, bool), zeros, None)


def agreement(key: str, expected: list, got: list, track_length_m: float) -> np.ndarray:
    """(K,) bool: where our value of ``key`` agrees with the reference's."""
    if key in EXACT_KEYS:
        return np.array([list(g) == list(e) if isinstance(e, list) else bool(g) == bool(e)
                         for e, g in zip(expected, got)])
    e, g = np.asarray(expected, np.float64), np.asarray(got, np.float64)
    if key == "heading":
        return np.abs(np.mod(g - e + 180.0, 360.0) - 180.0) <= HEADING_TOLERANCE_DEG
    if key == "progress":
        return np.abs(g - e) <= LENGTH_TOLERANCE_M / track_length_m * 100.0
    return np.abs(g - e) <= LENGTH_TOLERANCE_M


@functools.lru_cache(maxsize=None)
def comparison(run: str) -> dict[str, np.ndarray]:
    fx = fixture(run)
    ours = our_params(run)
    return {key: agreement(key, fx["expected"][key], [p[key] for p in ours], fx["track_length"])
            for key in POSE_KEYS}


def test_fixtures_are_there():
    assert {"reinvent_base", "reinvent_base_reversed", "reInvent2019_track", "Spain_track", "Tokyo_Training_track",
            "AWS_track", "China_track"} <= set(RUNS), RUNS


@pytest.mark.parametrize("run", RUNS)
def test_same_track_file_and_track_facts(run):
    fx = fixture(run)
    forward = track_pair(fx["track"]).forward
    assert hashlib.sha256(forward.route_bytes()).hexdigest() == fx["track_file_sha256"], \
        f"{fx['track']}.npy is not the file the fixture was made from: rerun scripts/conformance_golden.py"
    p = our_params(run)[0]
    assert p["is_reversed"] is fx["is_reversed"] is fx["reversed"]
    assert p["track_length"] == pytest.approx(fx["track_length"], abs=1e-9)
    # v6 drops consecutive duplicate centre points; on loops the last waypoint repeats the first
    assert len(p["waypoints"]) == fx["waypoints_count"]
    assert hashlib.sha256(np.asarray(p["waypoints"], dtype="<f8").tobytes()).hexdigest() == fx["waypoints_sha256"]


@pytest.mark.parametrize("key", POSE_KEYS)
@pytest.mark.parametrize("run", RUNS)
def test_param_agrees_with_the_reference(run, key):
    ok = comparison(run)[key]
    if ok.mean() < AGREEMENT:
        fx = fixture(run)
        ours = our_params(run)
        bad = np.flatnonzero(~ok)[:5]
        rows = [f"pose {i}: x={fx['inputs']['x'][i]} y={fx['inputs']['y'][i]} yaw={fx['inputs']['yaw'][i]} "
                f"reference={fx['expected'][key][i]!r} ours={ours[i][key]!r}" for i in bad]
        pytest.fail(f"{key} on {run}: {ok.mean():.1%} of {ok.size} poses agree (need {AGREEMENT:.0%})\n"
                    + "\n".join(rows))


def test_the_comparison_can_fail():
    """The tolerances bite: a reference point 2 cm off, other waypoints, the other side, 2 cm of lap."""
    run = "reinvent_base"
    fx = fixture(run)
    ours = our_params(run)
    length = fx["track_length"]
    shifted = [p["x"] + 0.02 for p in ours]
    assert not agreement("x", fx["expected"]["x"], shifted, length).any()
    later = [[i + 2, j + 2] for i, j in (p["closest_waypoints"] for p in ours)]
    assert not agreement("closest_waypoints", fx["expected"]["closest_waypoints"], later, length).any()
    flipped = [not p["is_left_of_center"] for p in ours]
    assert not agreement("is_left_of_center", fx["expected"]["is_left_of_center"], flipped, length).any()
    ahead = [p["progress"] + 0.02 / length * 100 for p in ours]
    assert agreement("progress", fx["expected"]["progress"], ahead, length).mean() < 0.5
