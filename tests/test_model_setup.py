"""One model setup for every launcher: the run spec the sims read, RESUME/CLONE taking the model's own
files, nothing written before everything is valid; one owner per model folder; the pointer is what
readers follow; leftovers and a full disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import ConfigError, TrainingParams
from core.model_folder import ModelFolder, ModelLock, ModelLockError
from core.storage import LocalStorage, StorageError
from simulation.worker import Worker, WorkerConfig
from stack.compose_launch import upload_model
from stack.export import choose_checkpoint
from stack.model_setup import SetupRequest, prepare_model

ROOT = Path(__file__).resolve().parent.parent


def _fake_checkpoint(folder: ModelFolder, n: int = 1, steps: int = 100) -> None:
    folder.publish_checkpoint(n, steps, {"index": b"i", "data-00000-of-00001": b"d"}, b"graph", 10.0)


def _new(tmp_path, name="m", **kw) -> ModelFolder:
    folder = ModelFolder(LocalStorage(tmp_path), name)
    prepare_model(folder, SetupRequest(model=name, **kw)).write()
    return folder


def test_resume_takes_the_models_own_files_and_refuses_other_metadata_before_writing(tmp_path):
    folder = _new(tmp_path, preset="state", tracks="Vegas_track", race={"race_type": "OBJECT_AVOIDANCE"})
    _fake_checkpoint(folder)
    before = {k: folder.storage.get_bytes(k) for k in folder.storage.list("m/")}
    setup = prepare_model(folder, SetupRequest(model="m", resume=True))          # PRESET left at its default
    assert setup.metadata.sensors == ("STATE",) and setup.hp.num_episodes_between_training == 40
    assert [t.name for t in setup.tracks] == ["Vegas_track"] and setup.params[0].race_type == "OBJECT_AVOIDANCE"
    assert any("model_metadata.json from model 'm' (RESUME)" in n for n in setup.notes)
    with pytest.raises(ConfigError, match=r"RESUME.*sensors \('STATE',\).*FRONT_FACING_CAMERA"):
        prepare_model(folder, SetupRequest(model="m", resume=True, preset="default"))
    assert {k: folder.storage.get_bytes(k) for k in folder.storage.list("m/")} == before   # not a byte written
    # new hyperparameters or reward are fine on resume; the run spec is then rewritten with them
    setup = prepare_model(folder, SetupRequest(model="m", resume=True, race={"race_type": "HEAD_TO_BOT"}))
    setup.write()
    assert TrainingParams.from_yaml(folder.read_text(folder.training_params())).race_type == "HEAD_TO_BOT"
    assert json.loads(folder.read_text(folder.model_metadata()))["sensor"] == ["STATE"]


def test_clone_takes_the_other_models_files(tmp_path):
    other = _new(tmp_path, name="a", preset="state", reward=ROOT / "rewards" / "speed_on_track.py")
    _fake_checkpoint(other)
    setup = prepare_model(ModelFolder(other.storage, "b"), SetupRequest(model="b", clone="a"))
    assert setup.metadata.sensors == ("STATE",) and setup.clone_folder.prefix == "a"
    assert setup.reward == other.storage.get_bytes(other.reward_function())


def test_the_run_spec_carries_tracks_and_race_options_to_every_sim(tmp_path):
    folder = _new(tmp_path, preset="state", tracks="reinvent,Vegas_track",
                  race={"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 3, "reverse_dir": True})
    assert folder.training_params_count() == 2
    sims = []
    for w in range(3):
        cfg = WorkerConfig(run_id="r", worker=w, storage=str(folder.storage.root), model_prefix="m", num_cars=2,
                           multi_track="own")
        sims.append(Worker(cfg, folder.storage, transport=None))
    assert [s.track.name for s in sims] == ["reinvent_base", "Vegas_track", "reinvent_base"]
    for s in sims:
        assert s.env.race.race_type == "OBJECT_AVOIDANCE" and s.env.race.number_of_obstacles == 3
        assert s.env.race.reverse_direction
    # the compose upload writes the same folder through the same setup
    up = upload_model(LocalStorage(tmp_path / "bucket"), "m", preset="state", track="reinvent,Vegas_track",
                      race={"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 3, "reverse_dir": True})
    for i in range(2):
        assert up.read_text(up.training_params(i)) == folder.read_text(folder.training_params(i))


def test_the_run_spec_records_the_car_model_and_the_sims_drive_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPRACER_DYNAMICS", raising=False)
    folder = _new(tmp_path, preset="state")
    assert "'CAR_DYNAMICS': 'v6-four'" in folder.read_text(folder.training_params())   # the default, recorded
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6-two")
    two = _new(tmp_path, name="two", preset="state")
    assert TrainingParams.from_yaml(two.read_text(two.training_params())).car_dynamics == "v6-two"
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v6")                                  # the default's other name
    four = _new(tmp_path, name="four", preset="state")
    assert TrainingParams.from_yaml(four.read_text(four.training_params())).car_dynamics == "v6-four"
    monkeypatch.delenv("DEEPRACER_DYNAMICS")
    cfg = WorkerConfig(run_id="r", worker=0, storage=str(tmp_path), model_prefix="four", num_cars=2)
    assert Worker(cfg, four.storage, transport=None).env.dynamics == "v6-four"     # the model's own car
    monkeypatch.setenv("DEEPRACER_DYNAMICS", "v5")                                  # told otherwise
    assert Worker(cfg, four.storage, transport=None).env.dynamics == "v5"
    # RESUME keeps the recorded car unless DEEPRACER_DYNAMICS says otherwise, and says which it takes
    _fake_checkpoint(four)
    setup = prepare_model(four, SetupRequest(model="four", resume=True))
    assert setup.params[0].car_dynamics == "v5"
    assert any("car model v5 (DEEPRACER_DYNAMICS; model 'four' (RESUME) trained with v6-four)" in n for n in setup.notes)
    monkeypatch.delenv("DEEPRACER_DYNAMICS")
    assert prepare_model(four, SetupRequest(model="four", resume=True)).params[0].car_dynamics == "v6-four"
    # a car this version does not know: one message naming it and the allowed ones, before anything is written
    before = {k: four.storage.get_bytes(k) for k in four.storage.list("four/")}
    spec = four.read_text(four.training_params()).replace("'v6-four'", "'v7'")
    four.storage.put_bytes(four.training_params(), spec.encode())
    with pytest.raises(ConfigError, match=r"CAR_DYNAMICS='v7' is not a car model this version knows; "
                                          r"allowed: v6-four, v6-two, v5, v6"):
        prepare_model(four, SetupRequest(model="four", resume=True))
    assert set(four.storage.list("four/")) == set(before)
    # a folder of an earlier version records no car: it trained with the two-contact v6 car
    old = TrainingParams.from_yaml(folder.read_text(folder.training_params()).replace("'CAR_DYNAMICS': 'v6-four'\n", ""))
    assert old.car_dynamics == "" and old.trained_car_dynamics == "v6-two" and "CAR_DYNAMICS" not in old.to_dict()


def test_unknown_race_option_and_both_resume_and_clone_are_refused(tmp_path):
    folder = ModelFolder(LocalStorage(tmp_path), "m")
    with pytest.raises(ConfigError, match="unknown race option.*obstacle_count"):
        prepare_model(folder, SetupRequest(model="m", race={"obstacle_count": 2}))
    with pytest.raises(ConfigError, match="exclude each other"):
        prepare_model(folder, SetupRequest(model="m", resume=True, clone="x"))
    assert not folder.storage.list("")


def test_readers_follow_the_pointer_not_the_highest_file(tmp_path):
    folder = _new(tmp_path, preset="state")
    _fake_checkpoint(folder, 1, 100)
    _fake_checkpoint(folder, 2, 200)
    # killed mid-publish of checkpoint 3: its first file is there, the pointer still names 2
    folder.storage.put_bytes(folder.checkpoint_prefix(3, 300) + ".index", b"half")
    assert choose_checkpoint(folder, "last") == 2
    assert choose_checkpoint(folder, "best") == 2
    with pytest.raises(ConfigError, match="not in"):
        choose_checkpoint(folder, 3)


def test_one_owner_per_model_folder_and_stale_locks_are_taken_over(tmp_path):
    folder = ModelFolder(LocalStorage(tmp_path), "m")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from core.model_folder import ModelFolder, ModelLock; "
         "from core.storage import LocalStorage; "
         f"ModelLock(ModelFolder(LocalStorage({str(tmp_path)!r}), 'm'), what='make train (embedded)').acquire(); "
         "print('held', flush=True); time.sleep(60)"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ModelLockError) as e:
            ModelLock(folder).acquire()
        assert "make train (embedded)" in str(e.value) and f"pid {holder.pid}" in str(e.value)
        with pytest.raises(ModelLockError):          # every launcher checks before it writes
            prepare_model(folder, SetupRequest(model="m", preset="state"))
        assert folder.storage.list("m/") == ["m/model/.lock"]
    finally:
        holder.kill()                                # kill -9: the lease stays, its process is gone
        holder.wait()
    with ModelLock(folder):                          # stale: taken over
        with pytest.raises(ModelLockError):          # one lock per folder, in one process too
            ModelLock(folder).acquire()
    assert not folder.storage.exists(folder.lock_marker())            # released
    # a lease of another host is honoured until it expires
    folder.write_json(folder.lock_marker(), {"owner": "y", "host": "elsewhere", "pid": 1, "what": "trainer",
                                             "since": time.time(), "expires": time.time() + 600})
    with pytest.raises(ModelLockError, match="host elsewhere"):
        ModelLock(folder).acquire()
    folder.write_json(folder.lock_marker(), {"owner": "y", "host": "elsewhere", "pid": 1, "what": "trainer",
                                             "since": time.time() - 900, "expires": time.time() - 1})
    with ModelLock(folder):
        pass


def test_leftover_temporary_files_are_removed(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put_bytes("m/model/a.json", b"{}")
    left = tmp_path / "m" / "model" / ".a.json.x1y2.drl-tmp"
    left.write_bytes(b"half")
    assert storage.remove_leftovers("m") == 1 and not left.exists()
    assert storage.get_bytes("m/model/a.json") == b"{}"


def test_a_full_disk_is_one_error_and_keeps_what_was_there(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk for real")
    try:
        folder = ModelFolder(LocalStorage(mnt), "m")
        _fake_checkpoint(folder, 1, 100)
        with pytest.raises(StorageError) as e:
            folder.publish_checkpoint(2, 200, {"index": b"i", "data-00000-of-00001": b"x" * 400_000}, b"g", 1.0)
        msg = str(e.value)
        assert "no space left" in msg and str(mnt) in msg and "needs 0.4 MB" in msg and "intact" in msg
        assert folder.latest_checkpoint().number == 1
        assert not list(mnt.rglob("*.drl-tmp"))
    finally:
        subprocess.run(["umount", str(mnt)])


@pytest.mark.slow
def test_resume_appends_history_and_keeps_checkpoint_numbers_unique(tmp_path):
    from stack.train import TrainRequest, run_training

    models = tmp_path / "models"
    first, folder = run_training(TrainRequest(track="reinvent", model="r", preset="state", episodes=80,
                                              models_dir=models))
    assert first[-1].iteration == 2 and first[-1].total_episodes == 80
    metrics_before = folder.read_json(folder.training_metrics())["metrics"]
    # a publish cut short by kill -9: files of checkpoint 3 exist, the pointer names 2
    folder.storage.put_bytes(folder.checkpoint_prefix(3, 999999) + ".index", b"half")
    again, _ = run_training(TrainRequest(model="r", resume=True, episodes=80, models_dir=models))  # PRESET not given
    assert [r.iteration for r in again] == [3, 4] and again[-1].total_episodes == 160
    names = [c for c in folder.list_checkpoints()]
    assert len({n for n, _ in names}) == len(names), f"a checkpoint number twice: {names}"
    assert (3, 999999) not in names
    metrics = folder.read_json(folder.training_metrics())["metrics"]
    assert metrics[:len(metrics_before)] == metrics_before                     # history kept, not replaced
    assert sorted({m["iteration"] for m in metrics}) == [0, 1, 2, 3]
    episodes = [m["episode"] for m in metrics if m["phase"] == "training"]
    assert len(episodes) == len(set(episodes)) and len(episodes) == 160         # the counters continue
    assert json.loads(folder.read_text(folder.model_metadata()))["sensor"] == ["STATE"]
