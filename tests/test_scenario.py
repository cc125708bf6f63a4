"""Scenario files (stack.scenario) and training every model of one at once (stack.scenario_run)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from core.config import ConfigError
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from stack.scenario import load_scenario, parse_scenario
from stack.scenario_run import check_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("name", ["three-models", "one-model-three-tracks", "three-tracks"])
def test_the_shipped_examples_are_valid(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    s = load_scenario(ROOT / "presets" / "scenarios" / f"{name}.yaml")
    assert s.name == name and s.models
    check_scenario(s, models_dir=Path("/nonexistent-models-dir"))   # every model's setup validates


def test_defaults_merge_into_each_model(tmp_path):
    reward = tmp_path / "r.py"
    reward.write_text("def reward_function(params):\n    return 1.0\n")
    s = load_scenario(write(tmp_path, """
        defaults:
          track: reinvent_base
          preset: state
          reward: r.py
          minutes: 5
          hyperparameters: {lr: 0.0003, batch_size: 64}
          race: {race_type: OBJECT_AVOIDANCE}
        models:
          - name: a
          - name: b
            tracks: [reinvent_base, Spain_track]
            episodes: 100
            hyperparameters: {lr: 0.001}
            race: {number_of_obstacles: 3}
        """))
    a, b = s.models
    assert s.name == "s" and a.tracks == ("reinvent_base",) and a.minutes == 5.0 and a.episodes is None
    assert a.reward == reward.resolve()                     # relative to the scenario file
    assert b.tracks == ("reinvent_base", "Spain_track") and b.episodes == 100 and b.minutes is None
    assert b.hyperparameter_overrides == {"lr": 0.001, "batch_size": 64}
    assert b.race == {"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 3}
    assert s.tracks == ("reinvent_base", "Spain_track")
    req = b.train_request(s.source)
    assert req.track == "reinvent_base,Spain_track" and req.hyperparameter_overrides["lr"] == 0.001


@pytest.mark.parametrize("body,message", [
    ("models: []", "'models' must be a list"),
    ("models:\n  - {track: reinvent_base, episodes: 5}", "every model needs a 'name'"),
    ("models:\n  - {name: a, epsiodes: 5}", "model 'a': unknown key 'epsiodes'; did you mean 'episodes'?"),
    ("models:\n  - {name: a}", "model 'a': give a budget"),
    ("models:\n  - {name: a, episodes: 5, minutes: 3}", "model 'a': give a budget"),
    ("models:\n  - {name: a, episodes: 0}", "model 'a': episodes must be a whole number >= 1"),
    ("models:\n  - {name: a, episodes: 5}\n  - {name: a, episodes: 5}", "appear more than once"),
    ("models:\n  - {name: 'my model', episodes: 5}", "contains spaces"),
    ("models:\n  - {name: a, episodes: 5, hyperparameters: hp.json}", "hyperparameters must be a mapping"),
    ("models:\n  - {name: a, episodes: 5, race: {race_tpye: HEAD_TO_BOT}}", "did you mean 'race_type'?"),
    ("models:\n  - {name: a, episodes: 5, reward: nothere.py}", "reward: file 'nothere.py' not found"),
    ("models:\n  - {name: a, episodes: 5, track: x, tracks: [y]}", "give 'track' or 'tracks', not both"),
    ("defaults: {name: x}\nmodels:\n  - {name: a, episodes: 5}", "'name' belongs to each model"),
    ("modles:\n  - {name: a}", "unknown key 'modles'; did you mean 'models'?"),
    ("models:\n  - {name: a, episodes: 5}\nearly_stop: {at: [1.5]}", "early_stop: at must be a list of fractions"),
    ("models:\n  - {name: a, episodes: 5}\ncompare: {trials: 0}", "compare: trials must be a whole number >= 1"),
])
def test_bad_scenarios_name_the_file_the_model_and_the_key(tmp_path, body, message):
    path = write(tmp_path, body + "\n")
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_setup_faults_are_found_before_anything_starts(tmp_path):
    s = load_scenario(write(tmp_path, """
        defaults: {preset: state, episodes: 5}
        models:
          - name: good
          - name: bad
            hyperparameters: {lr: -1}
          - name: unknown-track
            track: no_such_track
        """))
    with pytest.raises(ConfigError, match=r"model 'bad'.*lr"):
        check_scenario(s, models_dir=tmp_path / "models")
    assert not (tmp_path / "models").exists()                # nothing written
    with pytest.raises(ConfigError, match=r"did you mean 'lr'"):
        check_scenario(parse_scenario({"models": [{"name": "x", "episodes": 5, "preset": "state",
                                                   "hyperparameters": {"learning_rte": 0.1}}]}), tmp_path / "models")


def test_an_unknown_hyperparameter_override_is_an_error_not_a_warning(tmp_path):
    s = parse_scenario({"models": [{"name": "x", "episodes": 5, "preset": "state", "hyperparameters": {"lerning_rate": 1}}]},
                       source=str(tmp_path / "s.yaml"))
    with pytest.raises(ConfigError, match="lerning_rate"):
        check_scenario(s, tmp_path / "models")


@pytest.mark.slow
def test_three_models_train_at_once_and_the_worst_stops_early(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad_reward = tmp_path / "bad.py"
    bad_reward.write_text("def reward_function(params):\n    if params['steps'] > 20:\n        raise RuntimeError('boom')\n"
                          "    return 1.0\n")
    s = load_scenario(write(tmp_path, """
        name: tiny
        defaults:
          preset: state
          episodes: 60
          hyperparameters: {num_episodes_between_training: 20}
        models:
          - name: tiny-a
          - name: tiny-b
            hyperparameters: {lr: 0.001}
          - name: tiny-c
            hyperparameters: {beta_entropy: 0.05}
          - name: tiny-broken
            reward: bad.py
        early_stop: {at: [0.3], keep: 0.5}
        """))
    models = tmp_path / "models"
    result = run_scenario(s, models_dir=models)
    states = {r.spec.name: r.state for r in result.runs}
    assert states["tiny-broken"] == "failed"                  # its fault does not stop the others
    broken = next(r for r in result.runs if r.spec.name == "tiny-broken")
    assert "boom" in broken.error and "bad.py" in broken.error
    others = [r for r in result.runs if r.spec.name != "tiny-broken"]
    assert sorted(r.state for r in others) == ["done", "done", "stopped early"]   # ceil(3 x 0.5) = 2 go on
    for r in others:
        folder = ModelFolder(LocalStorage(models), r.spec.name)
        assert folder.latest_checkpoint() is not None          # every model saved its checkpoints
        if r.state == "done":
            assert r.episodes == 60 and r.iteration == 3
    stopped = next(r for r in others if r.state == "stopped early")
    # it stops after the iteration it was in when ranked (on a busy machine that can be its last)
    assert stopped.episodes <= 60 and "at 30% of its budget" in stopped.stopped_at
    summary = (result.out_dir / "summary.md").read_text()
    assert "stopped early" in summary and "tiny-broken" in summary and "failed" in summary
    finished = next(r for r in others if r.state == "done")   # which one stops early depends on the training
    lines = (result.out_dir / "status" / f"{finished.spec.name}.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2, 3]
    hp = json.loads((models / "tiny-b" / "ip" / "hyperparameters.json").read_text())
    assert hp["lr"] == 0.001                                  # the inline override reached the model


def test_a_gazebo_model_trains_in_compose_on_gazebo_sims_of_its_own(tmp_path):
    from stack.compose_scenario import compose_files, gazebo_service_name, generate

    s = load_scenario(write(tmp_path, """
        defaults: {preset: state, episodes: 8}
        models:
          - name: quick
          - name: reference-like
            sim_backend: gazebo
            sims: 2
        """))
    fast, gz = s.models
    assert fast.sim_backend == "fast" and gz.sim_backend == "gazebo"
    # embedded (local) training refuses it with the reason
    with pytest.raises(ConfigError, match=r"model 'reference-like': sim_backend gazebo trains in the Docker stack only"):
        check_scenario(s, models_dir=tmp_path / "models")
    # compose: its sims get its own Gazebo sims, by name; the other model's sims stay fast whatever compose/.env says
    files = compose_files(["docker-compose", "-f", "compose/docker-compose.yml", "-f", "compose/s3-seaweedfs.yml"])
    services = generate(s, files)["services"]
    assert list(services) == ["trainer-quick", "sim-quick", "trainer-reference-like", "sim-reference-like",
                              gazebo_service_name("reference-like")]
    g = services["sim-gazebo-reference-like"]
    assert "profiles" not in g and "build" not in g and "gazebo" in g["image"]
    gz_cmd, fast_cmd = json.dumps(services["sim-reference-like"]), json.dumps(services["sim-quick"])
    assert '\\"backend\\": \\"gazebo\\"' in gz_cmd and "http://sim-gazebo-reference-like:11311" in gz_cmd
    assert '\\"backend\\": \\"fast\\"' in fast_cmd and "DEEPRACER_SIM_BACKEND" not in fast_cmd + gz_cmd
    with pytest.raises(ConfigError, match="sim_backend must be one of fast, gazebo, got 'gazebos'"):
        parse_scenario({"models": [{"name": "x", "episodes": 5, "sim_backend": "gazebos"}]})
