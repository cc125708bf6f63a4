"""make import: real console models (the deepracer-utils source package's, fetched by
scripts/fetch_test_models.py) come in as model folders here, give the outputs of their own frozen graphs,
race, and train on; bad sources are refused with one message and nothing written."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from core.config import ConfigError
from core.model_folder import ModelFolder
from core.storage import LocalStorage
from tests.servers import s3_server  # noqa: F401  (fixture)

MODEL_NUMBERS = (15, 30, 48)


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    folder = Path(os.environ["DEEPRACER_TEST_MODELS"]) / "sample-model"
    if not (folder / "model" / "model_48.pb").is_file():
        pytest.fail(f"the public test models are not in {folder}: run `python scripts/fetch_test_models.py` "
                    "(make test does)")
    return folder


def _pictures(sample_dir: Path) -> np.ndarray:
    """The three camera pictures of the package as the car's input: 160x120 gray levels (B, 120, 160, 1),
    with deepracer-utils' gray weights."""
    from PIL import Image

    out = []
    for p in sorted((sample_dir / "pictures").glob("*.png")):
        rgb = np.asarray(Image.open(p).convert("RGB").resize((160, 120), Image.BICUBIC), np.float32)
        out.append((rgb @ np.array([0.2989, 0.5870, 0.1140], np.float32))[..., None])
    return np.stack(out)


def _car_package(sample_dir: Path, n: int, out: Path) -> Path:
    """A console "physical model" tarball: agent/model.pb and model_metadata.json."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(sample_dir / "model" / f"model_{n}.pb", "agent/model.pb")
        tar.add(sample_dir / "model" / "model_metadata.json", "model_metadata.json")
    return out


def test_console_models_import_and_give_their_own_graphs_outputs(sample_dir, tmp_path):
    from core.policy import FrozenPolicy
    from stack.model_import import IMPORT_CHECK_FRAMES, IMPORT_MAX_DIFFERENCE, import_model
    from trainer import coach

    models = tmp_path / "models"
    pictures = _pictures(sample_dir)
    for n in MODEL_NUMBERS:
        res = import_model(str(sample_dir), f"m{n}", models, checkpoint=str(n))
        assert res.checkpoint == n and res.frames == IMPORT_CHECK_FRAMES
        assert res.max_difference < IMPORT_MAX_DIFFERENCE
        assert res.value_from == "policy tower copy"
        folder = ModelFolder(LocalStorage(models), f"m{n}")
        assert folder.latest_checkpoint().number == n
        md = folder.read_json(folder.model_metadata())
        assert md == json.loads((sample_dir / "model" / "model_metadata.json").read_text())
        # the real pictures, through this project's runtime and through the console's own graph
        theirs = coach.run_policy_graph(coach.read_frozen_graph((sample_dir / "model" / f"model_{n}.pb").read_bytes(),
                                                                "test"), {"FRONT_FACING_CAMERA": pictures})
        from core.config import parse_model_metadata

        policy = FrozenPolicy.from_bytes(folder.storage.get_bytes(folder.frozen_model(n)), parse_model_metadata(md))
        probs = policy.session.run(policy._fetches[0], policy._feed({"FRONT_FACING_CAMERA": pictures}))
        assert probs.shape == (3, 12)
        assert np.max(np.abs(probs - theirs)) < IMPORT_MAX_DIFFERENCE
    # the three checkpoints of one training are different policies (the test would notice a constant mapping)
    outs = [coach.run_policy_graph(coach.read_frozen_graph((sample_dir / "model" / f"model_{n}.pb").read_bytes(), "t"),
                                   {"FRONT_FACING_CAMERA": pictures}) for n in MODEL_NUMBERS]
    assert np.max(np.abs(outs[0] - outs[2])) > 1e-3


def test_a_car_package_imports_and_races(sample_dir, tmp_path):
    from stack.evaluate import evaluate
    from stack.model_import import import_model

    pkg = _car_package(sample_dir, 48, tmp_path / "car.tar.gz")
    models = tmp_path / "models"
    res = import_model(str(pkg), "car", models, track="reinvent_base")
    assert res.checkpoint == 0 and res.max_difference < 1e-4
    assert any("reward_function.py" in n for n in res.notes)
    folder = ModelFolder(LocalStorage(models), "car")
    out = evaluate(folder, "reinvent_base", trials=2, seed=0)
    assert len(out.trials) == 2 and all(t.progress > 5.0 for t in out.trials)


def _expect_refused(tmp_path, src, model="bad", match=None, **kw):
    from stack.model_import import import_model

    models = tmp_path / "models"
    before = sorted(p.name for p in models.iterdir()) if models.exists() else []
    with pytest.raises(ConfigError, match=match):
        import_model(str(src), model, models, **kw)
    after = sorted(p.name for p in models.iterdir()) if models.exists() else []
    assert after == before, "a refused import left files in models/"


def test_tarballs_with_paths_outside_their_root_or_links_are_refused(tmp_path):
    for name, member in (("up.tar.gz", "../model_metadata.json"), ("abs.tar.gz", "/etc/model_metadata.json")):
        with tarfile.open(tmp_path / name, "w:gz") as tar:
            info = tarfile.TarInfo(member)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        _expect_refused(tmp_path, tmp_path / name, match="outside the tarball's root")
    with tarfile.open(tmp_path / "link.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("agent/model.pb")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    _expect_refused(tmp_path, tmp_path / "link.tar.gz", match="link or a device")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    _expect_refused(tmp_path, tmp_path / "junk.tar.gz", match="not a readable tar.gz")


def test_metadata_that_does_not_match_the_weights_is_refused(sample_dir, tmp_path):
    src = tmp_path / "src" / "model"
    src.mkdir(parents=True)
    shutil.copy(sample_dir / "model" / "model_15.pb", src)
    md = json.loads((sample_dir / "model" / "model_metadata.json").read_text())
    md["action_space"] = md["action_space"][:5]                  # 5 actions; the graph has 12
    (src / "model_metadata.json").write_text(json.dumps(md))
    _expect_refused(tmp_path, src.parent, match=r"ppo_head_0/policy_fc.*does not match the weights")
    md = json.loads((sample_dir / "model" / "model_metadata.json").read_text())
    md["neural_network"] = "DEEP_CONVOLUTIONAL_NETWORK_DEEP"
    (src / "model_metadata.json").write_text(json.dumps(md))
    _expect_refused(tmp_path, src.parent, match="does not match the weights")
    md["neural_network"] = "RESNET_9000"
    (src / "model_metadata.json").write_text(json.dumps(md))
    _expect_refused(tmp_path, src.parent, match="neural_network 'RESNET_9000'")
    md["neural_network"] = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    md["sensor"] = ["STATE"]
    (src / "model_metadata.json").write_text(json.dumps(md))
    _expect_refused(tmp_path, src.parent, match="STATE is this project's own")


def test_a_truncated_graph_and_missing_files_are_refused(sample_dir, tmp_path):
    src = tmp_path / "src" / "model"
    src.mkdir(parents=True)
    shutil.copy(sample_dir / "model" / "model_metadata.json", src)
    _expect_refused(tmp_path, src.parent, match="no weights")
    data = (sample_dir / "model" / "model_15.pb").read_bytes()
    (src / "model_15.pb").write_bytes(data[: len(data) // 3])
    _expect_refused(tmp_path, src.parent, match="model_15.pb: not a TensorFlow frozen graph")
    (src / "model_15.pb").unlink()
    (src / "3_Step-100.ckpt.index").write_bytes(b"x")
    _expect_refused(tmp_path, src.parent, match=r"no .*\.coach_checkpoint")
    _expect_refused(tmp_path, tmp_path / "nowhere", match="no such folder or file")


def test_an_existing_model_is_not_overwritten(sample_dir, tmp_path):
    (tmp_path / "models" / "taken").mkdir(parents=True)
    (tmp_path / "models" / "taken" / "keep.txt").write_text("mine")
    _expect_refused(tmp_path, sample_dir, model="taken", match="already exists")
    assert (tmp_path / "models" / "taken" / "keep.txt").read_text() == "mine"


def test_make_import_and_its_error(sample_dir, tmp_path):
    """The command line users run: one line on success, one message and exit 2 on a bad source."""
    from stack.cli import main

    models = tmp_path / "models"
    assert main(["import", "--from", str(sample_dir), "--model", "cli", "--models-dir", str(models)]) == 0
    assert (models / "cli" / "model" / "model_48.pb").is_file()
    assert main(["import", "--from", str(tmp_path / "none.tar.gz"), "--model", "x", "--models-dir", str(models)]) == 2
    assert not (models / "x").exists()


@pytest.mark.slow
def test_clone_trains_on_from_an_imported_console_model(sample_dir, tmp_path):
    from stack.model_import import import_model
    from stack.train import TrainRequest, run_training

    models = tmp_path / "models"
    import_model(str(sample_dir), "imported", models)
    reports, folder = run_training(TrainRequest(track="reinvent_base", model="cloned", clone="imported", episodes=20,
                                                models_dir=models, seed=0), None)
    assert len(reports) >= 1 and folder.latest_checkpoint() is not None
    # the first iteration is played by the imported policy: far beyond a fresh camera model's ~10% progress
    assert reports[0].mean_progress > 30.0


def test_a_legacy_model_with_an_observation_input_imports(sample_dir, tmp_path):
    """Metadata v1/v2 (no "sensor") and a graph whose input and camera scope are called ``observation``:
    the console model with its nodes renamed as the older simapp named them."""
    from core.policy import input_tensor_name
    from stack.model_import import import_model
    from trainer import coach

    graph = coach.read_frozen_graph((sample_dir / "model" / "model_30.pb").read_bytes(), "test")
    old = "main_level/agent/main/online/network_{}/FRONT_FACING_CAMERA/"
    new = "main_level/agent/main/online/network_{}/observation/"

    def rename(name: str) -> str:
        if name.lstrip("^") == input_tensor_name("FRONT_FACING_CAMERA"):
            return name.replace(input_tensor_name("FRONT_FACING_CAMERA"), input_tensor_name("observation"))
        return name.replace(old.format(1), new.format(1))

    for node in graph.node:
        node.name = rename(node.name)
        node.input[:] = [rename(i) for i in node.input]
        if "_class" in node.attr:           # colocation hints ("loc:@<node>") name nodes too
            node.attr["_class"].list.s[:] = [rename(v.decode()).encode() for v in node.attr["_class"].list.s]
    src = tmp_path / "legacy" / "model"
    src.mkdir(parents=True)
    (src / "model_30.pb").write_bytes(graph.SerializeToString())
    md = json.loads((sample_dir / "model" / "model_metadata.json").read_text())
    for key in ("sensor", "neural_network", "training_algorithm", "action_space_type"):
        md.pop(key)
    md["version"] = "2"
    (src / "model_metadata.json").write_text(json.dumps(md))
    res = import_model(str(src.parent), "legacy", tmp_path / "models")
    assert res.max_difference < 1e-4
    assert any(n.name == input_tensor_name("observation") for n in graph.node)


def test_export_virtual_writes_what_drfc_and_deepracer_on_aws_read_and_imports_back(sample_dir, tmp_path):
    """make export FORMAT=virtual: rl_coach's checkpoint files and pointer, the text files at the places the
    importers of DRfC (dr-upload-model) and DeepRacer-on-AWS look; importing it back gives the same policy."""
    import tensorflow as tf

    from core.config import parse_model_metadata
    from stack.export import export_virtual_model
    from stack.model_import import import_model
    from trainer import coach

    models = tmp_path / "models"
    import_model(str(sample_dir), "orig", models, checkpoint="30")
    out, tarball = export_virtual_model(ModelFolder(LocalStorage(models), "orig"), tmp_path / "out" / "orig-virtual")
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    for need in ("model/.coach_checkpoint", "model/30_Step-0.ckpt.index", "model/30_Step-0.ckpt.data-00000-of-00001",
                 "model/30_Step-0.ckpt.meta", "model/deepracer_checkpoints.json", "model/model_30.pb",
                 "model/model_metadata.json", "model_metadata.json", "reward_function.py", "training_params.yaml",
                 "hyperparameters.json", "ip/hyperparameters.json"):
        assert need in names, need
    assert "model/checkpoint" not in names          # the simapp refuses a restore folder holding one
    assert (out / "model" / ".coach_checkpoint").read_text() == "30_Step-0.ckpt"
    record = json.loads((out / "model" / "deepracer_checkpoints.json").read_text())
    assert record["best_checkpoint"]["name"] == record["last_checkpoint"]["name"] == "30_Step-0.ckpt"
    # rl_coach's saver saves the trainable online variables only: both towers, the rescalers, the heads
    listed = dict(tf.train.list_variables(str(out / "model" / "30_Step-0.ckpt")))
    scope = "main_level/agent/main/online"
    assert listed[f"{scope}/network_1/FRONT_FACING_CAMERA/Conv2d_4/kernel"] == [3, 3, 64, 64]
    assert listed[f"{scope}/network_0/middleware_fc_embedder/Dense_0/kernel"] == [11264, 512]
    assert listed[f"{scope}/network_0/v_values_head_0/output/kernel"] == [512, 1]
    assert listed[f"{scope}/network_1/ppo_head_0/policy_fc/kernel"] == [512, 12]
    assert listed[f"{scope}/network_1/gradients_from_head_0-0_rescalers"] == []
    assert len(listed) == 2 * (3 * 2 + 2 + 1) + 4
    # the exported frozen graph is the console's own (the weights went through ours and back)
    theirs = coach.read_frozen_graph((sample_dir / "model" / "model_30.pb").read_bytes(), "console")
    md = parse_model_metadata(json.loads((out / "model_metadata.json").read_text()))
    frames = coach.check_frames(md, 20)
    assert coach.max_policy_difference(theirs, (out / "model" / "model_30.pb").read_bytes(), md, frames) < 1e-5
    with tarfile.open(tarball) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == names
    res = import_model(str(tarball), "back", models)
    assert res.value_from == "checkpoint" and res.checkpoint == 30 and res.max_difference < 1e-6


def test_export_virtual_refuses_what_rl_coach_cannot_load(tmp_path):
    """A STATE model (this project's own sensor) and SAC (other networks in rl_coach) are refused with the
    reason, and nothing is written."""
    from core.config import parse_model_metadata
    from stack.export import export_virtual_model
    from trainer.learner import CheckpointIO
    from trainer.networks import build_policy_value

    md_path = Path(__file__).resolve().parent.parent / "presets" / "model_metadata_state.json"
    folder = ModelFolder(LocalStorage(tmp_path / "models"), "state")
    folder.storage.put_bytes(folder.model_metadata(), md_path.read_bytes())
    net = build_policy_value(parse_model_metadata(json.loads(md_path.read_text())), seed=0)
    CheckpointIO(net, folder, lambda: b"").publish(1, 10, None)
    with pytest.raises(ConfigError, match="STATE is this project's own"):
        export_virtual_model(folder, tmp_path / "out" / "state-virtual")
    assert not (tmp_path / "out" / "state-virtual").exists()


@pytest.mark.slow
def test_a_virtual_model_imports_from_s3(sample_dir, tmp_path, s3_server, monkeypatch):
    """FROM=s3://bucket/prefix: a virtual model a DRfC user keeps in their bucket (a real S3 server on
    loopback); a wrong prefix is one message."""
    from core.s3_storage import S3Storage
    from stack.export import export_virtual_model
    from stack.model_import import import_model

    models = tmp_path / "models"
    import_model(str(sample_dir), "orig", models, checkpoint="15")
    out, _ = export_virtual_model(ModelFolder(LocalStorage(models), "orig"), tmp_path / "virtual")
    bucket = S3Storage("drfc", endpoint_url=s3_server.endpoint, access_key=s3_server.access_key,
                       secret_key=s3_server.secret_key, create_bucket=True)
    for p in out.rglob("*"):
        if p.is_file():
            bucket.put_file(f"rl-deepracer-sagemaker/{p.relative_to(out).as_posix()}", p)
    monkeypatch.setenv("DEEPRACER_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    res = import_model("s3://drfc/rl-deepracer-sagemaker", "from-s3", models)
    assert res.value_from == "checkpoint" and res.checkpoint == 15 and res.max_difference < 1e-6
    _expect_refused(tmp_path, "s3://drfc/no-such-prefix", match="no model_metadata.json")
