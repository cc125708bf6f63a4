"""Typos in the configuration files are named, with the key that was meant (core/config.py), and
model names are checked (check_model_name)."""

from __future__ import annotations

import json

import pytest

from core.config import (DEFAULT_MODEL_METADATA, ConfigError, Hyperparameters, check_model_name, closest_key,
                         load_hyperparameters, load_model_metadata, parse_hyperparameters, parse_model_metadata,
                         show_config_warnings)


def _metadata(**changes):
    data = json.loads(json.dumps(DEFAULT_MODEL_METADATA))
    data.update(changes)
    return data


def _error(fn, *args) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return str(info.value)


# ---- unknown keys: a warning with the closest known key --------------------------------------------

@pytest.mark.parametrize("typo,meant", [("learnig_rate", "lr"), ("learning_rate", "lr"), ("batchsize", "batch_size"),
                                        ("num_epoch", "num_epochs"), ("Discount-Factor", "discount_factor"),
                                        ("gamma", "discount_factor"), ("entropy", "beta_entropy")])
def test_a_misspelt_hyperparameter_names_the_file_the_key_and_the_closest_key(typo, meant):
    hp = parse_hyperparameters({typo: 1}, source="my/hyperparameters.json")
    assert hp == Hyperparameters() and len(hp.warnings) == 1
    w = hp.warnings[0]
    assert w.startswith("my/hyperparameters.json: unknown key") and repr(typo) in w
    assert f"did you mean {meant!r}?" in w


def test_an_unknown_key_with_nothing_close_lists_the_known_keys():
    (w,) = parse_hyperparameters({"zzz": 1}).warnings
    assert "'zzz'" in w and "did you mean" not in w and "known keys: batch_size" in w


def test_no_suggestion_of_a_key_that_is_already_there():
    (w,) = parse_hyperparameters({"lr": 0.001, "learning_rate": 0.1}).warnings
    assert "'learning_rate'" in w and "did you mean" not in w


def test_a_misspelt_model_metadata_key_is_a_warning_with_the_closest_key():
    data = _metadata()
    data["senser"] = data.pop("sensor")
    md = parse_model_metadata(data, source="models/m/model_metadata.json")
    assert md.sensors == ("FRONT_FACING_CAMERA",)  # the default: the warning says why
    (w,) = md.warnings
    assert w.startswith("models/m/model_metadata.json: unknown key 'senser' ignored; did you mean 'sensor'?")


def test_misspelt_nested_keys_are_named_too():
    md = parse_model_metadata(_metadata(sensor=["FRONT_FACING_CAMERA", "LIDAR"],
                                        lidar_config={"num_sector": 4},
                                        action_space=[{"steering_angle": 0, "speed": 1, "indx": 0}]))
    assert any("lidar_config: unknown key 'num_sector'" in w and "did you mean 'num_sectors'?" in w
               for w in md.warnings)
    assert any("action_space[0]: unknown key 'indx'" in w and "did you mean 'index'?" in w for w in md.warnings)


# ---- a misspelt required key is an error -----------------------------------------------------------

def test_a_misspelt_action_space_is_an_error_naming_both():
    data = _metadata()
    data["action_spce"] = data.pop("action_space")
    msg = _error(parse_model_metadata, data, "model_metadata.json")
    assert msg.startswith("model_metadata.json: the required key 'action_space' is missing; did you mean 'action_spce'?")


def test_a_missing_action_space_without_a_misspelling_says_only_that():
    data = _metadata()
    del data["action_space"]
    msg = _error(parse_model_metadata, data)
    assert "'action_space' is missing" in msg and "did you mean" not in msg


def test_a_misspelt_speed_in_a_discrete_action_is_an_error_naming_both():
    msg = _error(parse_model_metadata, _metadata(action_space=[{"steering_angle": 0, "speed": 1},
                                                               {"steering_angle": 10, "sped": 1}]))
    assert "action_space[1]: the required key 'speed' is missing; did you mean 'sped'?" in msg


def test_closest_key():
    assert closest_key("senser", ["sensor", "version"]) == "sensor"
    assert closest_key("xyz", ["sensor", "version"]) is None
    assert closest_key("learning_rate", ["lr"], {"learning_rate": "lr"}) == "lr"
    assert closest_key(3, ["lr"]) is None


# ---- the warnings reach the user ---------------------------------------------------------------------

def test_the_loaders_print_each_warning_once_to_stderr(tmp_path, capsys):
    hp_path = tmp_path / "hyperparameters.json"
    hp_path.write_text(json.dumps({"learnig_rate": 0.1, "batch_size": 32}))
    md_path = tmp_path / "model_metadata.json"
    data = _metadata()
    data["senser"] = data.pop("sensor")
    md_path.write_text(json.dumps(data))
    for _ in range(2):
        hp = load_hyperparameters(hp_path)
        md = load_model_metadata(md_path)
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"warning: {hp_path}: unknown key 'learnig_rate' ignored; did you mean 'lr'?")
    assert lines[1].startswith(f"warning: {md_path}: unknown key 'senser' ignored; did you mean 'sensor'?")
    assert hp.batch_size == 32 and hp.warnings and md.warnings


def test_clean_files_print_nothing(tmp_path, capsys):
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps(Hyperparameters().to_json_dict()))
    load_hyperparameters(path)
    assert capsys.readouterr().err == ""


def test_show_config_warnings_takes_configs_and_strings(capsys):
    hp = parse_hyperparameters({"epochz": 3}, source="show-test.json")
    assert show_config_warnings(hp, "a note from show-test") == [hp.warnings[0], "a note from show-test"]
    assert show_config_warnings(hp) == []
    assert capsys.readouterr().err.count("warning: ") == 2


# ---- model names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["my-model", "reInvent_2018.v2", "a", "m-20240101-120000"])
def test_good_model_names(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name,words", [
    ("my model", ["'my model' contains spaces", "e.g. 'my-model'"]),
    ("/home/me/models/m", ["is a path", "folder under models/"]),
    ("~/m", ["is a path"]),
    ("..", ["'..'"]),
    ("../other", ["'..'", "outside"]),
    ("a/../b", ["'..'"]),
    ("team/model", ["'/' not allowed", "e.g. 'team-model'"]),
    ("mödel", ["'ö' not allowed"]),
    ("m*", ["'*' not allowed"]),
    ("", ["must be a model name"]),
    (None, ["must be a model name"]),
])
def test_bad_model_names_are_one_clear_error(name, words):
    msg = _error(check_model_name, name)
    assert msg.startswith("MODEL")
    for w in words:
        assert w in msg, (w, msg)
    assert "letters, digits, '.', '_' and '-'" in msg
