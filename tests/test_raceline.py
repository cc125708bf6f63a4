"""The racing line: speed profile against analytic limits, borders, lap-time refinement, cache, outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from simulation import car, dynamics, raceline
from simulation.track import Track


def _ring(radius_m: float, width_m: float, n: int = 200, name: str = "ring") -> Track:
    """A counter-clockwise circular loop of the given centre radius and width."""
    a = np.linspace(0.0, 2 * np.pi, n + 1)
    a[-1] = 0.0
    unit = np.stack([np.cos(a), np.sin(a)], axis=1)
    return Track.from_arrays(name, radius_m * unit, (radius_m - width_m / 2) * unit, (radius_m + width_m / 2) * unit)


def _strip(length_m: float, width_m: float = 1.0) -> Track:
    """An open straight track."""
    x = np.linspace(0.0, length_m, 41)
    c = np.stack([x, np.zeros_like(x)], axis=1)
    return Track.from_arrays("strip", c, c + [0.0, width_m / 2], c - [0.0, width_m / 2])


def _narrow_width() -> float:
    """A track just wider than the car and its margins: the line has 2 cm to move in."""
    return 2 * (raceline.HALF_WIDTH_M + raceline.MARGIN_M) + 0.02


@pytest.fixture(scope="module")
def reinvent():
    track = Track.load("reinvent_base")
    return track, raceline.compute_raceline(track)


def test_speed_on_a_circle_is_the_steady_corner_limit():
    radius = 1.5
    rl = raceline.compute_raceline(_ring(radius, _narrow_width()))
    expected = float(raceline.car_table().max_speed(1.0 / radius))     # the car's steady corner at this radius
    assert 1.0 < expected < raceline.V_TOP_MPS
    assert rl.is_loop
    np.testing.assert_allclose(rl.speed_mps, expected, rtol=0.03)
    assert rl.lap_time_s == pytest.approx(2 * np.pi * radius / expected, rel=0.03)
    assert rl.infeasible_stations == 0


def test_the_corner_limits_are_the_car_models_steady_corners(monkeypatch):
    from simulation.steady_corners import corner_table

    assert raceline.V_TOP_MPS == pytest.approx(3.6)
    two, four = corner_table("v6-two"), corner_table("v6-four")
    # the two-contact car follows the kinematic circle at walking pace, near full lock
    assert float(two.max_curvature(0.5)) == pytest.approx(np.tan(np.radians(30)) / car.WHEELBASE_M, rel=0.05)
    assert float(two.steering_deg(1.0, 1.0)) == pytest.approx(np.degrees(np.arctan(car.WHEELBASE_M)), abs=0.5)
    # the four-contact car (its wheels fight) needs more steering for a corner and holds less at speed
    assert float(four.steering_deg(1.0, 1.0)) > 1.2 * float(two.steering_deg(1.0, 1.0))
    for v in (0.5, 1.0, 2.0, 3.0):
        assert float(four.max_curvature(v)) < float(two.max_curvature(v))
    # no steady corner needs more than the grip: lateral acceleration at most mu g
    for t in (two, four):
        assert np.nanmax(t.ground_speed_mps ** 2 * t.curvature) <= dynamics.GRIP_MPS2 * 1.02
    # the line follows the car model that runs, and its cache key changes with it
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6-two")
    key_two = raceline.car_model_version()
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6-four")
    assert raceline.car_model_version() != key_two


def test_open_track_starts_from_rest_and_reaches_top_speed():
    length = 5.0
    rl = raceline.compute_raceline(_strip(length))
    assert not rl.is_loop
    assert rl.speed_mps[0] == 0.0 and rl.speed_mps[-1] == pytest.approx(raceline.V_TOP_MPS)
    a, v = dynamics.GRIP_MPS2, raceline.V_TOP_MPS
    ramp_m = v * v / (2 * a)
    assert rl.lap_time_s == pytest.approx(v / a + (length - ramp_m) / v, rel=0.02)


def test_line_stays_inside_the_borders_on_reinvent(reinvent):
    track, rl = reinvent
    proj = track.project(rl.xy)
    half_width = track.width_at(proj.arc_m) / 2
    assert np.all(np.abs(proj.signed_offset_m) + raceline.HALF_WIDTH_M <= half_width + 0.01)
    assert np.all(track.contains(rl.xy))


def test_reinvent_lap_time_is_plausible_and_beats_the_centre_line(reinvent):
    _, rl = reinvent
    # 17.7 m: above the length at top speed (4.9 s), well below the centre line's time (the default car, whose
    # wheels fight in corners, holds less in them than the two-contact car's 6.0 s line)
    assert 5.0 < rl.lap_time_s < 8.0
    assert rl.lap_time_s < rl.centre_lap_time_s - 0.5
    assert rl.lap_time_s <= rl.start_lap_time_s       # refinement improves or keeps the time
    assert rl.infeasible_stations == 0
    assert rl.time_s[-1] < rl.lap_time_s and np.all(np.diff(rl.time_s) > 0)
    assert rl.last_improvement_s >= 0.0 and rl.last_move_max_m >= 0.0
    assert rl.speed_mps.max() <= raceline.V_TOP_MPS + 1e-9


def test_cache_is_hit_and_invalidated_by_a_different_route(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    track = _ring(1.5, _narrow_width())
    first, cached1 = raceline.load_or_compute(track)
    second, cached2 = raceline.load_or_compute(track)
    assert (cached1, cached2) == (False, True)
    assert second.lap_time_s == first.lap_time_s
    np.testing.assert_array_equal(second.xy, first.xy)
    path = raceline.cache_path(track)
    assert path.is_file() and raceline.car_model_version() in path.name
    other = _ring(1.6, _narrow_width())
    assert raceline.cache_path(other) != path
    third, cached3 = raceline.load_or_compute(other)
    assert not cached3 and third.lap_time_s != first.lap_time_s


def test_outputs_are_written(tmp_path):
    track = _ring(1.5, 0.8)
    rl = raceline.compute_raceline(track)
    csv_path, png_path = raceline.write_outputs(rl, tmp_path / "out", track)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(rl.speed_mps)
    assert set(rows[0]) == {"station_m", "x_m", "y_m", "offset_m", "curvature_1pm", "speed_mps", "time_s"}
    assert png_path.stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reInvent2019_track", "Spain_track"])
def test_other_tracks(name):
    track = Track.load(name)
    rl = raceline.compute_raceline(track)
    assert rl.lap_time_s < rl.centre_lap_time_s
    assert rl.infeasible_stations == 0
    assert np.all(track.contains(rl.xy))
    assert rl.compute_s < 90.0     # a guard against a pathological slowdown, not a benchmark (34 s seen with other work running)


def test_lap_time_does_not_depend_on_the_station_spacing(reinvent, monkeypatch):
    """The line found on 0.15 m stations, driven on 0.05 m stations, gives the same lap within 1.5% (the default
    car's corner limit falls steeply with speed, so curvature peaks sampled finer cost a little more)."""
    from scipy.interpolate import CubicSpline

    track, rl = reinvent
    monkeypatch.setattr(raceline, "STATION_STEP_M", 0.05)
    monkeypatch.setattr(raceline, "MAX_STATIONS", 5000)
    fine = raceline._frame(track)
    spline = CubicSpline(np.append(rl.station_m, track.length_m), np.append(rl.offset_m, rl.offset_m[0]),
                         bc_type="periodic")
    lap = raceline._lap_time(fine, np.clip(spline(fine.station_m), fine.lo, fine.hi))
    assert lap == pytest.approx(rl.lap_time_s, rel=0.015)


def test_cli_writes_the_files(tmp_path, monkeypatch, capsys):
    from stack.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["raceline", "reinvent_base", "--out", str(tmp_path / "rl")]) == 0
    assert (tmp_path / "rl" / "raceline.csv").is_file() and (tmp_path / "rl" / "raceline.png").is_file()
    assert "reference lap time" in capsys.readouterr().out
    assert main(["raceline", "no_such_track", "--out", str(tmp_path / "x")]) == 2


# ---------------------------------------------------------------------------------------- action space and reward
def test_suggested_actions_are_sorted_and_within_the_limits(reinvent):
    _, rl = reinvent
    for k in (3, 7):
        acts = raceline.suggest_actions(rl, k)
        assert 2 <= len(acts) <= k and acts == sorted(acts)
        steer, speed = np.array(acts).T
        assert np.all(np.abs(steer) <= car.MAX_STEERING_DEG)
        assert np.all((speed >= car.MIN_SPEED_MPS) & (speed <= car.MAX_SPEED_MPS))
    # the line's top ground speed needs a command 0.035/0.036 of it
    assert max(s for _, s in raceline.suggest_actions(rl, 7)) <= raceline.V_TOP_MPS * 0.035 / 0.036 + 1e-6
    b = raceline.continuous_bounds(rl)
    assert b.steering_low_deg < min(steer) and max(steer) < b.steering_high_deg
    with pytest.raises(Exception, match="number of actions"):
        raceline.suggest_actions(rl, 0)


def test_a_speed_share_slows_the_suggested_actions_and_nothing_else(reinvent):
    _, rl = reinvent
    full, share = raceline.suggest_actions(rl, 7), raceline.suggest_actions(rl, 7, speed_share=0.9)
    assert [s for s, _ in share] == [s for s, _ in full]
    assert np.allclose([v for _, v in share], [max(0.9 * v, car.MIN_SPEED_MPS) for _, v in full], atol=0.011)
    cont = raceline.action_space_metadata(rl, None, speed_share=0.5)["action_space"]["speed"]
    b = raceline.continuous_bounds(rl)
    assert cont == {"low": round(max(0.5 * b.speed_low_mps, car.MIN_SPEED_MPS), 2),
                    "high": round(0.5 * b.speed_high_mps, 2)}
    for bad in (0.4, 1.1, "0.9", True):
        with pytest.raises(Exception, match=r"speed share of the racing line's actions must be a number from 0.5 to 1"):
            raceline.suggest_actions(rl, 7, speed_share=bad)


def test_raceline_command_writes_slower_actions_and_refuses_a_bad_share_before_writing(tmp_path):
    from stack.cli import main

    args = ["raceline", "reinvent_base", "--actions", "7", "--speed-share"]
    assert main([*args, "0.9", "--out", str(tmp_path / "a")]) == 0
    meta = json.loads((tmp_path / "a" / "model_metadata.json").read_text())
    assert max(a["speed"] for a in meta["action_space"]) < 3.1
    assert main([*args, "2", "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("k", [7, None])
def test_action_space_metadata_validates_and_drives(reinvent, k):
    from core.config import parse_model_metadata
    from simulation.env import BatchedEnv

    track, rl = reinvent
    meta = raceline.action_space_metadata(rl, k)
    md = parse_model_metadata(meta)
    assert md.is_discrete == (k is not None)
    env = BatchedEnv(track, model_metadata=meta, num_cars=2, seed=0)
    env.reset()
    actions = np.array([0, md.num_actions - 1]) if k else np.zeros((2, 2))
    out = env.step(actions)
    assert np.all(np.isfinite(out.reward))


def _params(track, xy, speed, heading_deg=0.0):
    proj = track.project(np.asarray([xy]))
    return {"is_offtrack": False, "all_wheels_on_track": True, "x": float(xy[0]), "y": float(xy[1]),
            "projection_distance": float(proj.arc_m[0]), "progress": 5.0, "steps": 5,
            "track_width": float(track.width_at(proj.arc_m)[0]), "speed": float(speed), "heading": heading_deg}


def test_generated_reward_prefers_the_line_at_its_speed(reinvent, tmp_path):
    import time

    from simulation.reward import IsolatedRewardFunction

    track, rl = reinvent
    src = raceline.reward_source(rl, "reinvent_base")
    assert "open(" not in src and "import" not in src.split('"""', 2)[2]
    ns: dict = {}
    exec(compile(src, "reward_function.py", "exec"), ns)
    fn = ns["reward_function"]
    _, cmd = raceline.line_commands(rl)
    i = 40
    on = _params(track, rl.xy[i], cmd[i])
    tangent = rl.xy[i + 1] - rl.xy[i - 1]
    normal = np.array([-tangent[1], tangent[0]]) / np.linalg.norm(tangent)
    off_xy = rl.xy[i] + 0.25 * normal * (1 if track.contains(rl.xy[i:i + 1] + 0.25 * normal)[0] else -1)
    assert track.contains(off_xy[None])[0]
    r_on = fn(on)
    r_off = fn(_params(track, off_xy, cmd[i]))
    r_slow = fn(_params(track, rl.xy[i], max(cmd[i] - 1.5, 0.1)))
    assert r_on > r_off + 0.2 and r_on > r_slow + 0.5
    t0 = time.perf_counter()
    for _ in range(2000):
        fn(on)
    print(f"reward call: {(time.perf_counter() - t0) / 2000 * 1e6:.1f} us")
    # the same through the isolated runner (how the sims run it)
    path = tmp_path / "reward_function.py"
    path.write_text(src)
    iso = IsolatedRewardFunction(path)
    assert iso(on) == pytest.approx(r_on)


def test_shipped_example_is_the_generated_reward(reinvent):
    from pathlib import Path

    _, rl = reinvent
    shipped = (Path(__file__).resolve().parents[1] / "rewards" / "raceline_reinvent_base.py").read_text()
    assert shipped.split("LINE = ")[0] == raceline.reward_source(rl, "reinvent_base").split("LINE = ")[0]


def test_cli_writes_actions_and_reward(tmp_path, monkeypatch, capsys):
    import json

    from core.config import parse_model_metadata
    from stack.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["raceline", "reinvent_base", "--out", str(tmp_path), "--actions", "5", "--reward"]) == 0
    meta = json.loads((tmp_path / "model_metadata.json").read_text())
    assert len(parse_model_metadata(meta).discrete_actions) <= 5
    assert "def reward_function(params)" in (tmp_path / "reward_function.py").read_text()
    capsys.readouterr()
    assert main(["raceline", "reinvent_base", "--out", str(tmp_path), "--actions", "lots"]) == 2
    captured = capsys.readouterr()
    assert "--actions" in captured.out + captured.err


def test_the_simulator_car_drives_the_line_at_most_of_its_speeds(reinvent):
    """A check of the car model against the dynamics: a simple line driver laps reinvent_base in the
    simulator at 80% or more of the line's speeds, in about the line's time at that share (plus the
    standing start), without straying far from it."""
    track, rl = reinvent
    share, drive = raceline.fastest_drive(track, rl, shares=(0.9, 0.85, 0.8))
    assert share >= 0.8
    assert drive.lap_time_s == pytest.approx(rl.lap_time_s / share, rel=0.08)
    assert drive.max_off_line_m < 0.5        # the default car turns wider than its steering asks: it drifts out


def test_a_line_too_fast_for_the_car_ends_off_track(reinvent):
    track, rl = reinvent
    drive = raceline.drive_line(track, rl, speed_scale=1.6)
    assert drive.status == "off_track" and drive.lap_time_s is None and drive.progress < 100


def test_racing_preset_is_the_reinvent_base_lines_action_space(reinvent):
    """PRESET=racing carries the actions the racing line of reinvent_base suggests (the ones the shipped
    raceline reward pays for) and stopping rules that its scores never meet."""
    import json

    from core.config import load_hyperparameters, preset_files

    _, rl = reinvent
    md_path, hp_path = preset_files("racing")
    base = json.loads(preset_files("default")[0].read_text())
    assert json.loads(md_path.read_text()) == raceline.action_space_metadata(rl, raceline.DEFAULT_ACTIONS, base)
    hp = load_hyperparameters(hp_path)
    assert hp.term_cond_avg_score >= 100000 and hp.term_cond_max_episodes >= 100000
