"""Configuration files: model_metadata.json, hyperparameters.json, training_params.yaml, presets."""

from __future__ import annotations

import json

import pytest

from core.config import (DEFAULT_MODEL_METADATA, PRESETS, PRESETS_DIR, ConfigError, Hyperparameters, TrainingParams,
                         load_hyperparameters, load_model_metadata, load_training_params, parse_hyperparameters,
                         parse_model_metadata, preset_files)

DRFC_HYPERPARAMETERS = {
    "batch_size": 64, "beta_entropy": 0.01, "discount_factor": 0.99, "e_greedy_value": 0.05, "epsilon_steps": 10000,
    "exploration_type": "categorical", "loss_type": "huber", "lr": 0.0003, "num_episodes_between_training": 20,
    "num_epochs": 5, "stack_size": 1, "term_cond_avg_score": 350.0, "term_cond_max_episodes": 1000, "sac_alpha": 0.2,
}


def _error(parse, data, source="f.json") -> str:
    with pytest.raises(ConfigError) as exc:
        parse(data, source)
    return str(exc.value)


# ---- hyperparameters.json -------------------------------------------------------------------------

def test_hyperparameter_defaults_are_drfc_default_file():
    assert Hyperparameters().to_json_dict() == DRFC_HYPERPARAMETERS
    assert list(Hyperparameters().to_json_dict()) == list(DRFC_HYPERPARAMETERS)
    assert parse_hyperparameters({}) == Hyperparameters()


def test_hyperparameters_round_trip_and_types():
    hp = parse_hyperparameters(DRFC_HYPERPARAMETERS)
    assert hp == Hyperparameters() and hp.warnings == ()
    assert parse_hyperparameters(hp.to_json_dict()) == hp
    assert isinstance(hp.batch_size, int) and isinstance(hp.lr, float)


def test_hyperparameters_accept_numeric_strings_and_integral_floats():
    hp = parse_hyperparameters({"batch_size": "128", "lr": "3e-4", "num_epochs": 3.0, "discount_factor": "0.999"})
    assert (hp.batch_size, hp.lr, hp.num_epochs, hp.discount_factor) == (128, 0.0003, 3, 0.999)
    assert type(hp.batch_size) is int and type(hp.num_epochs) is int


def test_hyperparameter_choices_are_normalised():
    hp = parse_hyperparameters({"loss_type": "MSE", "exploration_type": "E-Greedy"})
    assert hp.loss_type == "mean squared error" and hp.exploration_type == "e-greedy"
    assert parse_hyperparameters({"loss_type": "Mean Squared Error"}).loss_type == "mean squared error"


@pytest.mark.parametrize("key,value,words", [
    ("batch_size", 0, ["batch_size", ">= 1"]),
    ("batch_size", 32.5, ["batch_size", "whole number"]),
    ("batch_size", "lots", ["batch_size", "must be a number", "'lots'"]),
    ("batch_size", True, ["batch_size", "must be a number"]),
    ("discount_factor", 0, ["discount_factor", "> 0", "<= 1"]),
    ("discount_factor", 1.5, ["discount_factor", "<= 1"]),
    ("lr", 0, ["lr", "> 0"]),
    ("lr", -1e-4, ["lr", "> 0"]),
    ("lr", None, ["lr", "must be a number"]),
    ("lr", "nan", ["lr", "finite"]),
    ("num_epochs", 0, ["num_epochs", ">= 1"]),
    ("num_episodes_between_training", 0, ["num_episodes_between_training", ">= 1"]),
    ("e_greedy_value", 2, ["e_greedy_value", "<= 1"]),
    ("beta_entropy", -0.1, ["beta_entropy", ">= 0"]),
    ("loss_type", "l1", ["loss_type", "'l1'", "'huber'", "'mean squared error'"]),
    ("loss_type", 3, ["loss_type", "'huber'"]),
    ("exploration_type", "boltzmann", ["exploration_type", "'categorical'", "'e-greedy'"]),
])
def test_bad_hyperparameters_name_file_key_and_allowed(key, value, words):
    msg = _error(parse_hyperparameters, {key: value}, "my/hyperparameters.json")
    assert msg.startswith("my/hyperparameters.json: ")
    for w in words:
        assert w in msg, (w, msg)


def test_hyperparameters_validate_when_built_in_code():
    import dataclasses
    with pytest.raises(ConfigError, match="lr = -1"):
        Hyperparameters(lr=-1)
    with pytest.raises(ConfigError, match="loss_type 'mse'"):
        dataclasses.replace(Hyperparameters(), loss_type="mse")


def test_unknown_hyperparameters_are_reported_not_dropped_silently():
    hp = parse_hyperparameters({**DRFC_HYPERPARAMETERS, "learning_rate": 0.1, "gae_lambda": 0.9})
    assert hp == Hyperparameters()
    assert len(hp.warnings) == 2
    assert "'learning_rate'" in hp.warnings[0] and "lr" in hp.warnings[0]
    assert "'gae_lambda'" in hp.warnings[1]


def test_hyperparameters_file_errors(tmp_path):
    assert "not found" in _error(lambda d, s: load_hyperparameters(tmp_path / "none.json"), None)
    bad = tmp_path / "hyperparameters.json"
    bad.write_text('{"batch_size": 64,}')
    assert "not valid JSON" in _error(lambda d, s: load_hyperparameters(bad), None)
    bad.write_text("[1, 2]")
    assert "expected a JSON object" in _error(lambda d, s: load_hyperparameters(bad), None)


# ---- model_metadata.json --------------------------------------------------------------------------

def _metadata(**changes):
    data = json.loads(json.dumps(DEFAULT_MODEL_METADATA))
    data.update(changes)
    return data


@pytest.mark.parametrize("changes,words", [
    ({"sensor": ["FRONT_FACING_CAMERA", "SONAR"]}, ["unknown sensor 'SONAR'", "FRONT_FACING_CAMERA", "LIDAR"]),
    ({"neural_network": "RESNET"}, ["neural_network 'RESNET'", "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"]),
    ({"action_space": []}, ["action_space", "non-empty list"]),
    ({"action_space": [{"steering_angle": 0, "speed": 5}]}, ["action_space[0]", "speed = 5 m/s", "[0.1, 4] m/s"]),
    ({"action_space": [{"steering_angle": 45, "speed": 1}]}, ["action_space[0]", "steering_angle = 45 deg", "[-30, 30]"]),
    ({"action_space": [{"steering_angle": "left", "speed": 1}]}, ["steering_angle must be a number", "'left'"]),
    ({"action_space": [{"steering_angle": 0}]}, ["action_space[0]", "'speed'"]),
    ({"action_space": {"steering_angle": 0}}, ["action_space", "discrete"]),
    ({"training_algorithm": "sac"}, ["'sac'", "continuous", "clipped_ppo"]),
    ({"training_algorithm": "dqn"}, ["training_algorithm 'dqn'", "clipped_ppo, sac"]),
    ({"sensor": ["FRONT_FACING_CAMERA", "STEREO_CAMERAS"]}, ["at most one camera"]),
    ({"sensor": ["LIDAR"]}, ["needs exactly one camera"]),
    ({"sensor": []}, ["sensor must be a non-empty list"]),
    ({"action_space_type": "hybrid"}, ["action_space_type 'hybrid'", "discrete, continuous"]),
    ({"version": "five"}, ["version must be a number"]),
])
def test_bad_model_metadata_names_file_key_and_allowed(changes, words):
    msg = _error(parse_model_metadata, _metadata(**changes), "models/x/model_metadata.json")
    assert msg.startswith("models/x/model_metadata.json")
    for w in words:
        assert w in msg, (w, msg)


def test_model_metadata_missing_action_space_and_not_an_object():
    data = _metadata()
    del data["action_space"]
    assert "'action_space' is missing" in _error(parse_model_metadata, data)
    assert "expected a JSON object" in _error(parse_model_metadata, [1])


def test_model_metadata_continuous_bounds():
    cont = {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 1.5}}
    md = parse_model_metadata(_metadata(action_space=cont, action_space_type="continuous", training_algorithm="sac"))
    assert md.continuous.speed_high_mps == 1.5 and md.num_actions == 2
    bad = {"steering_angle": {"low": 10, "high": -10}, "speed": {"low": 0.5, "high": 1.5}}
    assert "low 10 is above high -10" in _error(parse_model_metadata,
                                                 _metadata(action_space=bad, action_space_type="continuous"))


def test_unknown_model_metadata_keys_are_warnings():
    md = parse_model_metadata(_metadata(colour="red", action_space=[{"steering_angle": 0, "speed": 1, "x": 2}]))
    assert any("'colour'" in w for w in md.warnings)
    assert any("action_space[0]" in w and "'x'" in w for w in md.warnings)


# ---- training_params.yaml -------------------------------------------------------------------------

DRFC_YAML = """---
'AWS_REGION': 'us-east-1'
'JOB_TYPE': 'TRAINING'
'KINESIS_VIDEO_STREAM_NAME': ''
'METRICS_S3_BUCKET': 'bucket'
'METRICS_S3_OBJECT_KEY': 'rl-deepracer-sagemaker/metrics/TrainingMetrics.json'
'MODEL_METADATA_FILE_S3_KEY': 'custom_files/model_metadata.json'
'REWARD_FILE_S3_KEY': 'custom_files/reward_function.py'
'NUM_WORKERS': '2'
'SAGEMAKER_SHARED_S3_BUCKET': 'bucket'
'SAGEMAKER_SHARED_S3_PREFIX': 'rl-deepracer-sagemaker'
'RACE_TYPE': 'OBJECT_AVOIDANCE'
'WORLD_NAME': 'reInvent2019_wide'
'REVERSE_DIR': 'false'
'ALTERNATE_DRIVING_DIRECTION': 'True'
'CHANGE_START_POSITION': 'true'
'ROUND_ROBIN_ADVANCE_DIST': '0.05'
'START_POSITION_OFFSET': '0.00'
'NUMBER_OF_OBSTACLES': '3'
'RANDOMIZE_OBSTACLE_LOCATIONS': 'True'
'OBJECT_POSITIONS':
- '0.23,-1'
- '0.67,1'
'SOMETHING_NEW': 'x'
"""


def test_training_params_read_drfc_yaml():
    tp = TrainingParams.from_yaml(DRFC_YAML, "run/training_params.yaml")
    assert (tp.num_workers, tp.race_type, tp.world_name) == (2, "OBJECT_AVOIDANCE", "reInvent2019_wide")
    assert tp.reverse_dir is False and tp.alternate_driving_direction is True and tp.randomize_obstacle_locations
    assert tp.object_positions == ((0.23, -1), (0.67, 1))
    assert tp.extra == {"KINESIS_VIDEO_STREAM_NAME": "", "SOMETHING_NEW": "x"}
    assert len(tp.warnings) == 1 and "'SOMETHING_NEW'" in tp.warnings[0] and "run/training_params.yaml" in tp.warnings[0]


def test_training_params_yaml_round_trip(tmp_path):
    tp = TrainingParams.from_yaml(DRFC_YAML)
    text = tp.to_yaml()
    assert text.startswith("---\n'AWS_REGION': 'us-east-1'\n")
    assert "'NUM_WORKERS': '2'" in text and "'SOMETHING_NEW': 'x'" in text and "- '0.23,-1'" in text
    again = TrainingParams.from_yaml(text)
    assert again == tp and again.extra == tp.extra
    path = tmp_path / "training_params.yaml"
    path.write_text(text)
    assert load_training_params(path) == tp


def test_training_params_race_type_keys_only_for_that_race():
    text = TrainingParams().to_yaml()
    assert "NUMBER_OF_OBSTACLES" not in text and "NUMBER_OF_BOT_CARS" not in text
    assert "NUMBER_OF_BOT_CARS" in TrainingParams(race_type="HEAD_TO_BOT").to_yaml()


@pytest.mark.parametrize("text,words", [
    ("RACE_TYPE: DRAG_RACE", ["f.yaml", "RACE_TYPE 'DRAG_RACE'", "TIME_TRIAL"]),
    ("NUM_WORKERS: '0'", ["f.yaml", "NUM_WORKERS = 0", ">= 1"]),
    ("NUM_WORKERS: two", ["f.yaml", "NUM_WORKERS must be a number"]),
    ("REVERSE_DIR: maybe", ["f.yaml", "REVERSE_DIR must be true or false"]),
    ("ROUND_ROBIN_ADVANCE_DIST: '5'", ["ROUND_ROBIN_ADVANCE_DIST = 5.0", "[0, 1]"]),
    ("OBJECT_POSITIONS: ['0.5']", ["OBJECT_POSITIONS", "lap_fraction,lane"]),
    ("OBJECT_POSITIONS: ['0.5,2']", ["OBJECT_POSITIONS", "lane of 1 or -1"]),
    ("BEST_MODEL_METRIC: speed", ["BEST_MODEL_METRIC 'speed'", "progress"]),
    ("[1, 2]", ["f.yaml", "mapping"]),
    ("a: [", ["f.yaml", "not valid YAML"]),
])
def test_bad_training_params(text, words):
    msg = _error(TrainingParams.from_yaml, text, "f.yaml")
    for w in words:
        assert w in msg, (w, msg)


def test_training_params_race_options_build_the_simulators_race_config():
    from simulation.race import RaceConfig

    tp = TrainingParams.from_yaml(DRFC_YAML)
    rc = RaceConfig.from_dict(tp.race_options())
    assert rc.race_type == "OBJECT_AVOIDANCE" and rc.alternate_direction and rc.number_of_obstacles == 3
    assert rc.obstacle_positions == ((0.23, -1), (0.67, 1))
    h2b = RaceConfig.from_dict(TrainingParams(race_type="HEAD_TO_BOT", number_of_bot_cars=2,
                                              change_start_position=False).race_options())
    assert h2b.number_of_bot_cars == 2 and h2b.round_robin_advance == 0.0
    with pytest.raises(ConfigError, match="track_length_m"):
        TrainingParams(start_position_offset=0.5).race_options()
    assert TrainingParams(start_position_offset=0.5).race_options(20.0)["start_offset_m"] == 10.0


# ---- presets ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_validates_without_warnings(name):
    metadata_path, hyper_path = preset_files(name)
    md, hp = load_model_metadata(metadata_path), load_hyperparameters(hyper_path)
    assert md.warnings == () and hp.warnings == ()


def test_every_preset_file_is_listed_and_documented():
    files = {p.name for p in PRESETS_DIR.glob("*.json")}
    listed = {f for pair in PRESETS.values() for f in pair}
    assert files == listed
    readme = (PRESETS_DIR / "README.md").read_text()
    for name in PRESETS:
        assert f"`{name}`" in readme
    for f in files:
        assert f in readme


def test_default_presets_are_drfc_defaults():
    metadata_path, hyper_path = preset_files("default")
    assert json.loads(metadata_path.read_text()) == DEFAULT_MODEL_METADATA
    assert json.loads(hyper_path.read_text()) == DRFC_HYPERPARAMETERS


def test_preset_contents():
    def md(name):
        return load_model_metadata(preset_files(name)[0])
    assert md("continuous").continuous is not None and md("continuous").continuous.speed_low_mps == 0.5
    assert md("10-actions").num_actions == 10
    assert md("stereo").sensors == ("STEREO_CAMERAS",)
    assert md("lidar").sensors == ("STEREO_CAMERAS", "LIDAR")
    assert md("state").sensors == ("STATE",) and all(a.speed_mps == 1.0 for a in md("state").discrete_actions)


def test_unknown_preset_lists_the_names():
    with pytest.raises(ConfigError) as exc:
        preset_files("fast")
    assert "'fast'" in str(exc.value)
    for name in PRESETS:
        assert name in str(exc.value)
