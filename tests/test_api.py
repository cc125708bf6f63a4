"""The Python API (deepracer_local): the command line's functions, DataFrames back, and the command
line's one-line errors instead of tracebacks (in IPython too)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pandas")

from core.model_folder import ModelFolder  # noqa: E402
from core.storage import LocalStorage  # noqa: E402
from deepracer_local import Model, Scenario, UserError, compare, scale, tracks  # noqa: E402
from stack import cli  # noqa: E402


def _cli_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    return " ".join(err[len("error: "):].split())


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def test_a_wrong_argument_is_the_command_lines_one_line_error(tmp_path, capsys):
    models = tmp_path / "models"
    with pytest.raises(UserError) as got:
        Model("m", models_dir=models).train(track="no_such_track", preset="state", episodes=40)
    assert got.value.__cause__ is None and got.value.__suppress_context__
    assert _same(str(got.value), _cli_error(capsys, ["train", "--track", "no_such_track", "--preset", "state",
                                                     "--episodes", "40", "--model", "m", "--models-dir", str(models)]))
    assert "no_such_track" in str(got.value)
    with pytest.raises(UserError) as got:
        Model("m", models_dir=models).train(preset="no-such-preset", episodes=40)
    assert _same(str(got.value), _cli_error(capsys, ["train", "--preset", "no-such-preset", "--episodes", "40",
                                                     "--model", "m", "--models-dir", str(models)]))
    with pytest.raises(UserError, match="give a limit: episodes=N or minutes=M"):
        Model("m", models_dir=models).train(preset="state")
    with pytest.raises(UserError, match=r"model 'm' has no checkpoint in .*models; train it first"):
        Model("m", models_dir=models).evaluate()
    other = tmp_path / "other"              # a model with a checkpoint, for export's own check
    ModelFolder(LocalStorage(other), "m").publish_checkpoint(0, 0, {"index": b"i"})
    with pytest.raises(UserError, match="pick: BACKEND 'gazebo' is not one a checkpoint can be picked in"):
        Model("m", models_dir=other).pick(backend="gazebo")
    with pytest.raises(UserError, match="format 'onnx' is not one of car, virtual"):
        Model("m", models_dir=other).export(format="onnx")
    with pytest.raises(UserError, match="a model name must be a non-empty string"):
        Model("  ")
    with pytest.raises(UserError, match="sims must be a whole number >= 1"):
        scale(0)
    with pytest.raises(UserError, match="compare needs at least one model"):
        compare([], models_dir=models)
    assert not models.exists() or not any(models.iterdir())          # nothing was written


def test_a_scenario_with_a_mistake_names_it(tmp_path):
    with pytest.raises(UserError) as got:
        Scenario({"name": "s", "models": [{"name": "a", "track": "reinvent_base", "preset": "state", "minuts": 3}]},
                 models_dir=tmp_path)
    assert "minuts" in str(got.value) and "\n" not in str(got.value)
    with pytest.raises(UserError, match="no_such.yaml"):
        Scenario(tmp_path / "no_such.yaml")


def test_in_ipython_a_user_error_is_one_line(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from deepracer_local import api

    shell = InteractiveShell.instance()
    try:
        api._show_user_errors_as_one_line()
        shell.run_cell("from deepracer_local import Model\nModel('m', models_dir='/nonexistent-models').evaluate()")
        out = capsys.readouterr()
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.out + out.err)
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines == ["error: model 'm' has no checkpoint in /nonexistent-models; train it first"], lines
        shell.run_cell("1 / 0")                  # other errors keep their traceback
        assert "ZeroDivisionError" in capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()


def test_tracks_is_a_table_of_the_tracks_here():
    table = tracks()
    assert {"reinvent_base", "reInvent2019_track"} <= set(table["name"])
    row = table.set_index("name").loc["reinvent_base"]
    assert row["loop"] and 17 < row["length_m"] < 18


@pytest.mark.slow
def test_train_evaluate_and_metrics_come_back_as_dataframes(tmp_path):
    model = Model("api", models_dir=tmp_path)
    curve = model.train(track="reinvent_base", preset="state", episodes=80)
    assert list(curve["iteration"]) == [1, 2] and curve["total_episodes"].iloc[-1] == 80
    assert {"mean_reward", "mean_progress", "lap_share", "eval_progress", "seconds"} <= set(curve.columns)
    trials = model.evaluate(trials=2)
    assert list(trials["trial"]) == [1, 2] and set(trials["track"]) == {"reinvent_base"}
    assert trials["checkpoint"].iloc[0] == 2 and trials["progress"].between(0, 100).all()
    picked = model.pick(backend="fast", trials=2, checkpoints=2, mark=True)
    assert list(picked["checkpoint"]) == [1, 2] and list(picked["trials"]) == [2, 2] and picked["picked"].sum() == 1
    assert model.folder.best_checkpoint().number == int(picked.loc[picked["picked"], "checkpoint"].iloc[0])
    metrics = model.training_metrics()
    training = metrics[metrics["phase"] == "training"]
    assert len(training) == 80 and sorted(training["iteration"].unique()) == [0, 1]
    figures = model.report(out=tmp_path / "out")
    assert len(figures) >= 2 and (tmp_path / "out" / "training.png").exists()
    path = model.export(out=tmp_path / "car.tar.gz")
    assert path.exists() and path.stat().st_size > 1000
