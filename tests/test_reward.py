"""Tests of simulation/reward.py (loading, calling, faults) and of the shipped rewards/ files."""

from __future__ import annotations

import math
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest

from simulation.reward import REWARD_LIMIT, RewardFunction, RewardFunctionError

REWARDS_DIR = Path(__file__).resolve().parents[1] / "rewards"
SHIPPED = sorted(REWARDS_DIR.glob("*.py"))

#: Every params key of spec section 1.
SPEC_KEYS = {
    "all_wheels_on_track", "x", "y", "heading", "distance_from_center", "projection_distance",
    "progress", "steps", "speed", "steering_angle", "track_width", "track_length", "waypoints",
    "closest_waypoints", "is_left_of_center", "is_reversed", "is_offtrack", "is_crashed",
    "closest_objects", "objects_location", "objects_left_of_center", "objects_distance",
    "objects_distance_from_center", "objects_heading", "objects_speed", "object_in_camera",
    "sim_time",
}

# A loop of radius 3 m around the origin, 40 segments, counter-clockwise, last == first.
WAYPOINTS = [(round(3.0 * math.cos(2 * math.pi * i / 40), 4), round(3.0 * math.sin(2 * math.pi * i / 40), 4))
             for i in range(40)] + [(3.0, 0.0)]


@pytest.fixture
def params() -> dict:
    """A time-trial params dict: the car just past waypoint 5, slightly left of the centre line."""
    return {
        "all_wheels_on_track": True,
        "x": 2.52, "y": 1.68,
        "heading": 124.0,
        "distance_from_center": 0.05,
        "projection_distance": 2.6,
        "progress": 13.8,
        "steps": 42.0,
        "speed": 1.5,
        "steering_angle": 10.0,
        "track_width": 0.76,
        "track_length": 18.84,
        "waypoints": list(WAYPOINTS),
        "closest_waypoints": [5, 6],
        "is_left_of_center": True,
        "is_reversed": False,
        "is_offtrack": False,
        "is_crashed": False,
        "closest_objects": [0, 0],
        "objects_location": [],
        "objects_left_of_center": [],
        "objects_distance": [],
        "objects_distance_from_center": [],
        "objects_heading": [],
        "objects_speed": [],
        "object_in_camera": False,
        "sim_time": 2.8,
    }


@pytest.fixture
def object_params(params: dict) -> dict:
    """The same car in an object-avoidance race with 2 boxes; the next one 0.45 m ahead, same lane."""
    params.update({
        "closest_objects": [1, 0],
        "objects_location": [(2.15, 1.98), (-2.9, -0.7)],
        "objects_left_of_center": [True, False],
        "objects_distance": [3.05, 11.2],
        "objects_distance_from_center": [0.15, 0.15],
        "objects_heading": [0.0, 0.0],
        "objects_speed": [0.0, 0.0],
        "object_in_camera": True,
    })
    return params


def write(tmp_path: Path, source: str, name: str = "reward_function.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_fixture_has_every_spec_key(params: dict) -> None:
    assert set(params) == SPEC_KEYS


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_rewards_return_finite_floats(path: Path, params: dict, object_params: dict) -> None:
    rf = RewardFunction(path)
    for p in (params, object_params):
        r = rf(dict(p, waypoints=list(p["waypoints"])), episode=0, step=1)
        assert type(r) is float and math.isfinite(r) and abs(r) <= REWARD_LIMIT


def test_shipped_set_and_known_values(params: dict, object_params: dict) -> None:
    names = {p.stem for p in SHIPPED}
    assert {"default", "template", "stay_inside_borders", "prevent_zigzag", "follow_waypoints_heading",
            "object_avoidance", "speed_on_track"} <= names
    assert RewardFunction(REWARDS_DIR / "default.py")(params) == 1.0  # 0.05 <= 0.1 * 0.76
    assert RewardFunction(REWARDS_DIR / "default.py")(dict(params, distance_from_center=0.5)) == 1e-3
    oa = RewardFunction(REWARDS_DIR / "object_avoidance.py")
    assert oa(object_params) == pytest.approx(1e-3 + 1.0 + 4.0 * 0.2)  # same lane, 0.45 m away
    assert oa(dict(object_params, is_left_of_center=False)) == pytest.approx(1e-3 + 1.0 + 4.0)
    assert RewardFunction(REWARDS_DIR / "prevent_zigzag.py")(dict(params, steering_angle=-20.0)) == 0.8


def test_template_reads_every_key(params: dict) -> None:
    rf = RewardFunction(REWARDS_DIR / "template.py")
    rf.call_tracked(params)
    assert rf.keys_read == SPEC_KEYS


def test_copies_keep_separate_globals(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, """
        import math
        import numpy as np
        calls = 0
        def reward_function(params):
            global calls
            calls += 1
            return float(np.float64(calls))
    """)
    rf = RewardFunction(path, copies=2)
    assert [rf(params, car=0) for _ in range(3)] == [1.0, 2.0, 3.0]
    assert rf(params, car=1) == 1.0
    assert rf(params, car=0) == 4.0
    assert RewardFunction(path)(params) == 1.0  # a new load starts fresh
    assert not any(m.__name__ in __import__("sys").modules for m in rf.modules)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(tmp_path / "nope.py")
    msg = str(info.value)
    assert str(tmp_path / "nope.py") in msg and "reward_function(params)" in msg
    assert info.value.line is None and info.value.params is None


def test_not_py_file(tmp_path: Path) -> None:
    with pytest.raises(RewardFunctionError, match=r"\.py"):
        RewardFunction(write(tmp_path, "def reward_function(params): return 1.0\n", "reward.txt"))


def test_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, """
        def reward_function(params):
            reward = 1.0
            if reward > 0
                reward = 2.0
            return reward
    """)
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(path)
    assert info.value.line == 4 and info.value.kind == "syntax error"
    assert f"{path}, line 4" in str(info.value) and "if reward > 0" in str(info.value)


def test_exception_at_import(tmp_path: Path) -> None:
    path = write(tmp_path, "import math\nSCALE = 1 / 0\ndef reward_function(params):\n    return 1.0\n")
    with pytest.raises(RewardFunctionError, match="ZeroDivisionError") as info:
        RewardFunction(path)
    assert info.value.line == 2 and "ZeroDivisionError" in str(info.value)


def test_no_reward_function(tmp_path: Path) -> None:
    path = write(tmp_path, "def my_reward(params):\n    return 1.0\nclass Helper:\n    pass\n")
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(path)
    msg = str(info.value)
    assert "reward_function" in msg and "my_reward" in msg and "Helper" in msg


def test_wrong_signature(tmp_path: Path) -> None:
    path = write(tmp_path, "def reward_function(params, extra):\n    return 1.0\n")
    with pytest.raises(RewardFunctionError, match="one positional argument") as info:
        RewardFunction(path)
    assert info.value.line == 1


def test_exception_inside(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, """
        import math

        def helper(params):
            return params['distance_from_center'] / params['speed']

        def reward_function(params):
            reward = 1.0
            reward = helper(params)
            return reward
    """)
    rf = RewardFunction(path)
    with pytest.raises(RewardFunctionError) as info:
        rf(dict(params, speed=0.0), car=0, episode=7, step=42)
    err, msg = info.value, str(info.value)
    assert (err.line, err.episode, err.step, err.kind) == (5, 7, 42, "exception")
    assert str(path) in msg and "line 5" in msg and "episode 7, step 42" in msg
    assert "ZeroDivisionError" in msg and "float division by zero" in msg
    assert "distance_from_center: 0.05" in msg and "speed: 0.0" in msg
    assert f"... ({len(WAYPOINTS)} items)" in msg  # waypoints abbreviated
    assert isinstance(err.__cause__, ZeroDivisionError) and err.params["speed"] == 0.0


@pytest.mark.parametrize("body, kind, text", [
    ("float('nan')", "NaN", "NaN"),
    ("math.inf", "infinite", "inf"),
    ("-math.inf", "infinite", "-inf"),
    ("1e6", "out of range", "1000000.0"),
    ("10 ** 400", "out of range", "100000000"),
    ("np.float32('nan')", "NaN", "NaN"),
    ("'fast'", "not a number", "str"),
    ("None", "not a number", "NoneType"),
    ("[1.0]", "not a number", "list"),
])
def test_bad_results(tmp_path: Path, params: dict, body: str, kind: str, text: str) -> None:
    path = write(tmp_path, f"import math\nimport numpy as np\ndef reward_function(params):\n    return {body}\n")
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(path)(params, episode=1, step=3)
    err = info.value
    assert err.kind == kind and text in str(err) and str(path) in str(err)
    assert "episode 1, step 3" in str(err) and err.line == 3 and "progress: 13.8" in str(err)


@pytest.mark.parametrize("body, expected", [
    ("1", 1.0), ("True", 1.0), ("np.float32(0.5)", 0.5), ("np.int64(-3)", -3.0),
    ("np.array(2.0)", 2.0), ("1e5", 1e5), ("-1e5", -1e5),
])
def test_accepted_results(tmp_path: Path, params: dict, body: str, expected: float) -> None:
    path = write(tmp_path, f"import numpy as np\ndef reward_function(params):\n    return {body}\n")
    r = RewardFunction(path)(params)
    assert type(r) is float and r == expected


def test_mutating_params_is_harmless_with_fresh_containers(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, """
        def reward_function(params):
            params['x'] = 999
            params['waypoints'].append((0.0, 0.0))
            params['closest_waypoints'][0] = -1
            return 1.0
    """)
    rf = RewardFunction(path)
    original_waypoints, original_closest, original_x = params["waypoints"], params["closest_waypoints"], params["x"]
    snapshot = list(original_waypoints)
    for _ in range(2):
        fresh = dict(params, waypoints=list(original_waypoints), closest_waypoints=list(original_closest))
        assert rf(fresh) == 1.0
    assert original_waypoints == snapshot and original_closest == [5, 6] and params["x"] == original_x


def test_call_tracked_records_keys_read(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, """
        def reward_function(params):
            speed = params['speed']
            progress = params.get('progress', 0.0)
            return speed + progress / 100
    """)
    rf = RewardFunction(path)
    assert rf.call_tracked(params) == pytest.approx(1.5 + 0.138)
    assert rf.keys_read == {"speed", "progress"}
    rf(params)  # the plain call records nothing
    assert rf.keys_read == {"speed", "progress"}


def test_call_tracked_error_and_read_everything(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, "def reward_function(params):\n    n = len(list(params.items()))\n    return params['nope']\n")
    rf = RewardFunction(path)
    with pytest.raises(RewardFunctionError) as info:
        rf.call_tracked(params, episode=0, step=1)
    assert rf.keys_read == SPEC_KEYS | {"nope"}
    assert type(info.value.params) is dict and "KeyError: 'nope'" in str(info.value)


def test_error_pickles(tmp_path: Path, params: dict) -> None:
    path = write(tmp_path, "def reward_function(params):\n    raise ValueError('bad')\n")
    with pytest.raises(RewardFunctionError) as info:
        RewardFunction(path)(params, episode=2, step=5)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and (again.line, again.episode, again.step) == (2, 2, 5)
