"""`make compare`: real models trained for seconds, evaluated on real tracks, the report read back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from core.config import ConfigError
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from simulation.track import Track
from simulation.track_sources import UnknownTrackError
from stack.compare import CompareRequest, compare, compare_main, default_out_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two STATE models trained on reinvent_base (5 and 1 iterations), a folder without checkpoints,
    and a copy of the first whose model_metadata.json no longer fits its graph."""
    pytest.importorskip("tensorflow")
    from stack.train import TrainRequest, run_training

    root = tmp_path_factory.mktemp("models")
    quiet = Console(quiet=True)
    run_training(TrainRequest(track="reinvent", model="fast", preset="state", episodes=200, models_dir=root, seed=1),
                 quiet)
    run_training(TrainRequest(track="reinvent", model="slow", preset="state", episodes=40, models_dir=root, seed=2),
                 quiet)
    storage = LocalStorage(root)
    fast = ModelFolder(storage, "fast")
    # a custom track that only "fast" holds: "slow" cannot drive it (an error cell, not an error row)
    storage.put_bytes(fast.track_file("my_oval"), Track.load("Oval_track").route_bytes())
    empty = ModelFolder(storage, "empty")
    empty.write_json(empty.model_metadata(), json.loads((root / "fast/model/model_metadata.json").read_text()))
    shutil.copytree(root / "fast", root / "mismatch")
    mismatch = ModelFolder(storage, "mismatch")
    meta = mismatch.read_json(mismatch.model_metadata())
    meta["action_space"] = meta["action_space"][:3]
    mismatch.write_json(mismatch.model_metadata(), meta)
    return root, [fast, ModelFolder(storage, "slow"), empty, mismatch]


@pytest.fixture(scope="module")
def compared(models, tmp_path_factory):
    root, folders = models
    out = tmp_path_factory.mktemp("compare") / "out"
    console = Console(record=True, width=250)
    report = compare(CompareRequest(models=folders, tracks=["reinvent"], held_out=["Oval_track", "my_oval"],
                                    trials=3, out_dir=out, title="two tiny models"), console)
    return report, out, console.export_text()


@pytest.mark.slow
def test_report_files_exist(compared):
    report, out, _ = compared
    for name in ("report.md", "learning-curves.png", "evaluation-matrix.png", "best-laps-reinvent_base.png",
                 "best-laps-Oval_track.png", "best-laps-my_oval.png"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == PNG_MAGIC
    assert {p.name for p in report.files} == {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_matrix_shape_and_values(compared):
    report, _, _ = compared
    assert [(c.name, c.held_out) for c in report.tracks] == [("reinvent_base", False), ("Oval_track", True),
                                                            ("my_oval", True)]
    assert [r.name for r in report.rows] == ["fast", "slow", "empty", "mismatch"]
    progress, laps, best = report.matrix("progress"), report.matrix("laps"), report.matrix("best_lap")
    assert progress.shape == laps.shape == best.shape == (4, 3)
    evaluated = progress[:2, :2]
    assert np.all((evaluated >= 0) & (evaluated <= 100)), progress
    assert np.all((laps[:2, :2] >= 0) & (laps[:2, :2] <= 100))
    assert 0 <= progress[0, 2] <= 100 and np.isnan(progress[1, 2])     # "slow" does not hold my_oval
    assert np.isnan(progress[2:]).all()                                 # error rows
    for i in range(2):
        for j in range(2):
            cell = report.rows[i].cells[j]
            assert cell.trials == 3 and 0 <= cell.laps <= 3
            assert np.isnan(best[i, j]) == (cell.laps == 0)
            if cell.laps:
                assert 5.0 < best[i, j] < 180.0
            assert cell.best_path is not None and cell.best_path.shape[1] == 2
    # "slow" trained one iteration: only checkpoint 0 was evaluated (its episodes picked the metric), so
    # it is the best one; checkpoint 1 was never raced during training
    assert report.rows[0].checkpoint is not None and report.rows[1].checkpoint == 0


@pytest.mark.slow
def test_error_rows_and_cells_do_not_stop_the_others(compared):
    report, _, terminal = compared
    fast, slow, empty, mismatch = report.rows
    assert fast.error is None and slow.error is None
    assert "no checkpoints" in empty.error
    assert "does not match" in mismatch.error and "model_metadata.json" in mismatch.error
    assert slow.cells[2].error and "my_oval" in slow.cells[2].error
    assert fast.cells[2].error is None
    assert not report.ok and len(report.errors) == 3
    assert "not evaluated" in terminal and "fast" in terminal and "slow" in terminal


@pytest.mark.slow
def test_markdown_names_models_and_marks_held_out(compared):
    report, out, _ = compared
    md = (out / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model |"))
    assert "reinvent_base |" in header and "Oval_track (held out)" in header and "my_oval (held out)" in header
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ") and "---" not in line}
    for name in ("fast", "slow", "empty", "mismatch"):
        assert name in rows
    assert "†" in rows["fast"].split("|")[3]               # trained on reinvent_base
    assert "not evaluated" in rows["empty"] and "no checkpoints" in rows["empty"]
    assert "checkpoint" in md and "learning-curves.png" in md


@pytest.mark.slow
def test_evaluations_are_in_the_model_folders(compared):
    report, _, _ = compared
    fast = report.rows[0]
    keys = [c.metrics_key for c in fast.cells]
    assert len(set(keys)) == 3                              # one file per track, none overwritten
    for cell in fast.cells:
        assert fast.folder.storage.exists(cell.metrics_key) and fast.folder.storage.exists(cell.simtrace_key)
        trials = fast.folder.read_json(cell.metrics_key)["metrics"]
        assert len(trials) == 3
        assert cell.mean_progress == pytest.approx(np.mean([t["completion_percentage"] for t in trials]), abs=1.0)


@pytest.mark.slow
def test_command_line(models, tmp_path):
    root, _ = models
    console = Console(record=True, width=200)
    rc = compare_main(["--models", "fast,slow", "--models-dir", str(root), "--trials", "1", "--out",
                       str(tmp_path / "cli")], console)
    assert rc == 0, console.export_text()
    md = (tmp_path / "cli/report.md").read_text()
    assert "| fast |" in md and "reinvent_base" in md               # default tracks: those the models trained on
    assert compare_main(["--models", "fast,nope", "--models-dir", str(root)], console) == 2
    assert "nope" in console.export_text()


def _folder(tmp_path, name: str) -> ModelFolder:
    return ModelFolder(LocalStorage(tmp_path), name)


@pytest.mark.parametrize("change, message", [
    (dict(models=[]), "no models"),
    (dict(tracks=[], held_out=[]), "no tracks"),
    (dict(trials=0), "TRIALS"),
    (dict(checkpoint="bset"), "CHECKPOINT='bset'"),
    (dict(held_out=["reinvent_base"]), "both"),
    (dict(notes={"x": ["early stop"]}), "notes for x"),
])
def test_bad_requests_are_one_clear_error(tmp_path, change, message):
    base = dict(models=[_folder(tmp_path, "a")], tracks=["reinvent"], out_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match=message):
        compare(CompareRequest(**{**base, **change}), Console(quiet=True))
    assert not (tmp_path / "out").exists()


def test_same_model_twice_and_unknown_track(tmp_path):
    with pytest.raises(ConfigError, match="named twice"):
        compare(CompareRequest(models=[_folder(tmp_path, "a"), _folder(tmp_path, "a")], tracks=["reinvent"]))
    with pytest.raises(UnknownTrackError, match="reinvnt"):
        compare(CompareRequest(models=[_folder(tmp_path, "a")], tracks=["reinvnt"]), Console(quiet=True))


def test_default_out_dir(tmp_path):
    req = CompareRequest(models=[_folder(tmp_path, "a"), _folder(tmp_path, "b")], tracks=["reinvent"])
    assert default_out_dir(req) == Path("out/compare-a-b")
    req.title = "lr sweep / reinvent"
    assert default_out_dir(req) == Path("out/compare-lr-sweep-reinvent")


def test_a_second_evaluation_of_a_model_gets_its_own_files(tmp_path):
    """evaluate names its files by the second: compare waits until that second is over."""
    import time

    from core.model_folder import format_timestamp
    from stack.compare import _wait_for_new_stamp

    key = _folder(tmp_path, "m").evaluation_metrics(time.time())
    _wait_for_new_stamp(key)
    assert format_timestamp(time.time()) not in key
