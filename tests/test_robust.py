"""Robust training (simulation/robust.py): per episode and car, the car and the camera are drawn anew."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.config import ConfigError, TrainingParams
from simulation import robust
from simulation.controller import pure_pursuit
from simulation.env import BatchedEnv

CAMERA = {"action_space": [{"steering_angle": s, "speed": 1.0} for s in (-30, -15, 0, 15, 30)],
          "sensor": ["FRONT_FACING_CAMERA"]}
STATE = {"action_space": [{"steering_angle": s, "speed": 1.0} for s in (-30, -15, 0, 15, 30)], "sensor": ["STATE"]}


def test_draws_stay_in_their_ranges_and_the_nominal_camera_is_untouched():
    rng = np.random.default_rng(0)
    d = robust.RobustDraw.nominal(400)
    frames = rng.integers(0, 256, (400, 120, 160, 1)).astype(np.uint8)
    assert np.array_equal(d.camera(frames, rng), frames)
    d.draw(np.arange(400), rng)
    for name, (lo, hi) in (("steering_gain_per_tick", robust.STEERING_GAIN_PER_TICK), ("grip_scale", robust.GRIP_SCALE),
                           ("speed_gain", robust.SPEED_GAIN), ("exposure", robust.EXPOSURE),
                           ("contrast", robust.CONTRAST), ("blur_sigma_px", robust.BLUR_SIGMA_PX),
                           ("noise_sigma", robust.NOISE_SIGMA), ("motion_noise", robust.MOTION_NOISE)):
        v = getattr(d, name)
        assert lo <= v.min() and v.max() <= hi and v.max() - v.min() > 0.6 * (hi - lo), name
    # below the v5 hinges' 0.036 and above the v6 controller's 0.1, log-uniform
    assert (d.steering_gain_per_tick < 0.036).any() and (d.steering_gain_per_tick > 0.1).any()
    assert 0.4 < d.latency.mean() < 0.6
    out = d.camera(frames, rng)
    assert out.dtype == np.uint8 and out.shape == frames.shape and not np.array_equal(out, frames)


def test_a_dark_low_contrast_blurred_frame():
    rng = np.random.default_rng(1)
    d = robust.RobustDraw.nominal(1)
    y, x = np.mgrid[0:120, 0:160]
    frame = np.where((x // 20) % 2 == 0, 200, 50).astype(np.uint8)[None, ..., None]
    d.exposure[:] = 0.7
    d.contrast[:] = 0.7
    d.blur_sigma_px[:] = 1.2
    out = d.camera(frame, rng).astype(float)
    assert out.mean() == pytest.approx(0.7 * frame.mean(), abs=1.0)                   # exposure
    assert out.std() < 0.7 * 0.7 * frame.std() + 1.0                                 # contrast and exposure
    edge = np.abs(np.diff(out[0, 60, :, 0])).max()
    assert edge < 0.7 * 0.7 * 150 * 0.6                                              # the blur softens the edges


def test_robust_training_randomizes_each_cars_episode():
    env = BatchedEnv("reinvent_base", None, STATE, {"robust": True}, num_cars=8, seed=0)
    env.reset()
    first = env.robust.steering_gain_per_tick.copy()
    assert len(set(first.round(6))) == 8                                         # each car its own
    for _ in range(5):
        env.step(pure_pursuit(env))
    env._reset_cars(np.array([0, 1]))
    assert (env.robust.steering_gain_per_tick[:2] != first[:2]).all()        # a new episode, a new draw
    assert (env.robust.steering_gain_per_tick[2:] == first[2:]).all()


def test_latency_applies_the_previous_steps_action():
    env = BatchedEnv("reinvent_base", None, STATE, {"robust": True}, num_cars=2, seed=0, autoreset=False)
    env.reset()
    env.robust.latency[:] = [True, False]
    env.robust.steering_gain_per_tick[:] = 0.1
    env.robust.grip_scale[:] = 1.0
    env.robust.speed_gain[:] = 1.0
    env.step(np.array([2, 2]))            # the prepare step: straight
    env.step(np.array([4, 4]))            # 30 deg left: the late car still goes straight
    assert env.state.steering_rad[0] == pytest.approx(0.0, abs=1e-9)
    assert env.state.steering_rad[1] > 0.1
    env.step(np.array([4, 4]))
    assert env.state.steering_rad[0] > 0.1                                   # one step late


def test_motion_noise_shakes_a_moving_car_as_much_as_the_dart_car_hops():
    # four cars at 2.7 m/s, the same commands: two without motion noise move alike, two with it (1x DART's
    # one-step noise) part from them by about DART_STEP_NOISE's heading a step
    env = BatchedEnv("reinvent_base", None, STATE, {"robust": True}, num_cars=4, seed=0, autoreset=False)
    env.reset()
    d = env.robust
    d.latency[:] = False
    d.steering_gain_per_tick[:] = 0.1
    d.grip_scale[:] = 1.0
    d.speed_gain[:] = 1.0
    d.motion_noise[:] = 0.0
    env.step(np.array([2, 2, 2, 2]))                 # the prepare step: the cars stay at rest
    env.state.speed_mps[:] = 2.7
    before = env.state.yaw.copy()
    env.step(np.array([2, 2, 2, 2]))
    turned = env.state.yaw - before
    assert np.allclose(turned, turned[0], atol=1e-9)
    d.motion_noise[:] = [0.0, 0.0, 1.0, 1.0]
    before = env.state.yaw.copy()
    env.step(np.array([2, 2, 2, 2]))
    turned = env.state.yaw - before
    assert turned[0] == pytest.approx(turned[1], abs=1e-9)
    kicks = turned[2:] - turned[0]
    assert (np.abs(kicks) > 1e-6).all() and (np.abs(kicks) < 5 * robust.DART_STEP_NOISE[0]).all()
    parked = robust.RobustDraw.nominal(1)
    parked.motion_noise[:] = 1.5
    from simulation import car
    s = car.CarState.zeros(1)
    parked.shake(s, np.array([True]), np.random.default_rng(0))
    assert s.yaw[0] == 0.0 and s.speed_mps[0] == 0.0                      # a car at rest does not hop


def test_robust_training_needs_a_four_contact_car_and_evaluation_never_randomizes(monkeypatch):
    with pytest.raises(ConfigError, match=r"robust training randomizes a four-contact car \(v6-four, v5\); "
                                          r"the car model is v6-two"):
        BatchedEnv("reinvent_base", None, STATE, {"robust": True, "dynamics": "v6-two"}, num_cars=1)
    spec = TrainingParams(robust_training=True)
    assert spec.to_dict()["ROBUST_TRAINING"] == "True" and "ROBUST_TRAINING" not in TrainingParams().to_dict()
    assert TrainingParams.from_yaml(spec.to_yaml()).race_options()["robust"] is True
    # the camera's lights and colours are randomized too
    env = BatchedEnv("reinvent_base", None, CAMERA, {"robust": True}, num_cars=2, seed=0)
    assert env._camera.domain_randomization


def test_scenario_files_and_the_command_line_take_the_flag(tmp_path):
    from stack.model_setup import RACE_OPTION_KEYS, race_options_from_args
    from stack.scenario import load_scenario

    assert "robust_training" in RACE_OPTION_KEYS
    import argparse

    from stack.model_setup import add_race_arguments
    p = argparse.ArgumentParser()
    add_race_arguments(p)
    assert race_options_from_args(p.parse_args(["--robust"])) == {"robust_training": True}
    assert race_options_from_args(p.parse_args([])) == {}
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nmodels:\n  - name: a\n    preset: state\n    episodes: 40\n    race: {robust_training: true}\n")
    assert load_scenario(f).models[0].race == {"robust_training": True}


def test_gazebo_column_needs_a_gazebo_sim():
    from stack.transfer_bench import gazebo_answers

    assert gazebo_answers(None) == (False, "no GAZEBO_MASTER_URI (run it in compose: make bench-transfer GAZEBO=1)")
    ok, why = gazebo_answers("http://127.0.0.1:9")          # nothing listens on the discard port here
    assert not ok and "no Gazebo sim answers at http://127.0.0.1:9" in why


@pytest.mark.parametrize("kwargs, says", [
    (dict(checkpoints=5), "checkpoints must be 1 to 4 (a model folder keeps its newest 4), got 5"),
    (dict(checkpoints=0), "checkpoints must be 1 to 4"),
    (dict(seeds=0), "seeds must be a whole number from 1, got 0"),
    (dict(trials=2.5), "trials must be a whole number from 1, got 2.5"),
    (dict(hyperparameters={"epochs": "3"}), "bench transfer --hp hyperparameters: unknown key 'epochs'"),
    (dict(hyperparameters={"num_epochs": "0"}), "num_epochs"),
    (dict(pick_in="gazebo", checkpoints=4), "a checkpoint can be picked in fast or dart, got 'gazebo'"),
    (dict(pick_in="dart"), "picking a checkpoint in dart needs checkpoints of 2 to 4 to pick from, got 1"),
    (dict(pick_in="dart", checkpoints=4, pick_trials=0), "pick trials must be a whole number from 1, got 0"),
])
def test_bench_transfer_refuses_a_bad_race_plan_before_training(tmp_path, kwargs, says):
    from stack.transfer_bench import bench_transfer

    with pytest.raises(ConfigError, match=re.escape(says)):
        bench_transfer(minutes=0.01, out_dir=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_the_pick_is_the_checkpoint_that_lapped_most_and_a_tie_goes_to_the_newer():
    from stack.pick import pick_checkpoint

    assert pick_checkpoint([(27, 18, 20), (28, 20, 20), (29, 19, 20), (30, 17, 20)]) == 28
    assert pick_checkpoint([(27, 20, 20), (28, 13, 20), (29, 20, 20), (30, 19, 20)]) == 29
    assert pick_checkpoint([(30, 0, 20), (29, 0, 20)]) == 30
    with pytest.raises(ValueError, match="no checkpoint raced"):
        pick_checkpoint([])


@pytest.mark.parametrize("kwargs, says", [
    (dict(backend="gazebo"), "pick: BACKEND 'gazebo' is not one a checkpoint can be picked in; allowed: fast, dart"),
    (dict(checkpoints=5), "pick: CHECKPOINTS must be 1 to 4 (a model folder keeps its newest 4), got 5"),
    (dict(trials=0), "pick: TRIALS must be a whole number from 1, got 0"),
    (dict(), "pick: model 'empty' has no checkpoint to pick from"),
])
def test_make_pick_refuses_bad_input_before_racing_and_writes_nothing(tmp_path, kwargs, says):
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage
    from stack.pick import pick

    (tmp_path / "models" / "empty").mkdir(parents=True)
    with pytest.raises(ConfigError, match=re.escape(says)):
        pick(ModelFolder(LocalStorage(tmp_path / "models"), "empty"), "reinvent_base", mark=True, **kwargs)
    assert [p.name for p in (tmp_path / "models").rglob("*")] == ["empty"]


def test_bench_transfer_hp_options_are_key_value_pairs():
    from stack.transfer_bench import parse_hp_options

    assert parse_hp_options(["num_epochs=3", " lr = 2e-4", "num_epochs=4"]) == {"num_epochs": "4", "lr": "2e-4"}
    assert parse_hp_options(None) == {}
    for bad in ("num_epochs", "=3", "num_epochs="):
        with pytest.raises(ConfigError, match=re.escape(f"--hp takes KEY=VALUE") + ".*" + re.escape(repr(bad))):
            parse_hp_options([bad])


@pytest.mark.slow
def test_bench_transfer_trains_both_ways_and_races_in_fast_and_dart(tmp_path, monkeypatch):
    pytest.importorskip("dartpy")
    pytest.importorskip("tensorflow")
    from stack.transfer_bench import bench_transfer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = bench_transfer(minutes=0.4, state_minutes=0, trials=1, out_dir=tmp_path / "out", checkpoints=2,
                       hyperparameters={"num_epochs": "3"})
    assert [m.robust for m in r.models] == [False, True] and all(m.iterations >= 2 for m in r.models)
    for row, m in zip(r.rows, [r.models[0]] * 2 + [r.models[1]] * 2):   # its last two checkpoints, a trial each
        assert [(n, of) for n, _, of in row.by_checkpoint] == [(m.iterations - 1, 1), (m.iterations, 1)]
        assert row.trials == 2 and row.laps == sum(laps for _, laps, _ in row.by_checkpoint)
    assert [(row.model.split("-")[1], row.simulator) for row in r.rows] == \
        [("camera", "fast"), ("camera", "dart"), ("camera", "fast"), ("camera", "dart")]
    assert "Gazebo (v5 car) not raced" in r.notes[0]
    spec = (tmp_path / "out" / "models" / r.models[1].name / "training_params.yaml").read_text()
    assert "'ROBUST_TRAINING': 'True'" in spec and "'CAR_DYNAMICS': 'v6-four'" in spec
    for m in r.models:   # --hp on top of the preset's file, for every model
        hp = json.loads((tmp_path / "out" / "models" / m.name / "ip" / "hyperparameters.json").read_text())
        assert hp["num_epochs"] == 3 and hp["batch_size"] == 64
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Hyperparameters: each preset's file, with num_epochs 3." in report
    assert "| mean lap / fast | laps by checkpoint |" in report and f", {r.models[0].iterations}: " in report
    assert (tmp_path / "out" / "curves.png").stat().st_size > 5000

    # the pick: each of the last two checkpoints races a selection lap in DART at a seed held out from the
    # evaluation, then only the pick races in each simulator, and the last checkpoint beside it in DART
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage
    from stack.transfer_bench import PICK_SEED_OFFSET, pick_checkpoint, race_model

    m = r.models[0]
    rows, (sim, seed, by) = race_model(ModelFolder(LocalStorage(tmp_path / "out" / "models"), m.name),
                                       "reinvent_base", 1, ["fast", "dart"], [0], 2, pick_in="dart", pick_trials=1)
    assert (sim, seed) == ("dart", PICK_SEED_OFFSET) and [(n, of) for n, _, of in by] == \
        [(m.iterations - 1, 1), (m.iterations, 1)]
    picked = pick_checkpoint(by)
    assert [(row.simulator, row.checkpoint_choice, [n for n, _, _ in row.by_checkpoint]) for row in rows] == \
        [("fast", "picked in dart", [picked]), ("dart", "picked in dart", [picked]),
         ("dart", "last, beside the pick", [m.iterations])]
    assert rows[2].ratio_to_fast is None
    if picked == m.iterations:    # the pick was the last: its DART races stand for both rows
        assert (rows[2].laps, rows[2].trials, rows[2].mean_lap_s) == (rows[1].laps, rows[1].trials, rows[1].mean_lap_s)
