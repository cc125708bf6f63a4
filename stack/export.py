"""`make export MODEL=...`: the package the physical car loads (spec section 7); FORMAT=virtual: the model as
deepracer-for-cloud and DeepRacer-on-AWS keep it (export_virtual_model).

The car package is a tar.gz holding ``agent/model.pb`` (the frozen policy graph with the DeepRacer tensor
names) and ``model_metadata.json``, taken from the best checkpoint unless another is asked for.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

from core.config import ConfigError
from core.model_folder import ModelFolder


def choose_checkpoint(folder: ModelFolder, which: str | int | None = "best") -> int:
    """Checkpoint number: "best" (highest evaluation progress), "last" (the one the pointer names: a
    checkpoint interrupted mid-publish may leave higher-numbered files that are not complete), or a
    number that exists with its frozen graph."""
    latest = folder.latest_checkpoint()
    if latest is None:
        raise ConfigError(f"no checkpoints in {folder.describe()}; train the model first")
    numbers = [n for n, _ in folder.list_checkpoints() if n <= latest.number]
    if which in (None, "best"):
        best = folder.best_checkpoint()
        return best.number if best is not None and best.number in numbers else latest.number
    if which == "last":
        return latest.number
    try:
        n = int(which)
    except (TypeError, ValueError):
        raise ConfigError(f"CHECKPOINT={which!r}: use best, last or a checkpoint number ({numbers})") from None
    if n not in numbers:
        raise ConfigError(f"checkpoint {n} is not in {folder.describe()}; available: {numbers}")
    return n


def export_car_package(folder: ModelFolder, out: str | Path, checkpoint: str | int | None = "best") -> Path:
    """Write the car package; refuses a graph that does not match the folder's model_metadata.json."""
    from core.config import parse_model_metadata
    from core.policy import check_graph_matches

    n = choose_checkpoint(folder, checkpoint)
    model_pb = folder.storage.get_bytes(folder.frozen_model(n))
    metadata = folder.storage.get_bytes(folder.model_metadata())
    try:
        check_graph_matches(model_pb, parse_model_metadata(json.loads(metadata), source=folder.model_metadata()))
    except ValueError as exc:
        raise ConfigError(f"{folder.frozen_model(n)} does not match {folder.model_metadata()}: {exc}; "
                          "the car would not run it (was the metadata replaced after training?)") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in (("agent/model.pb", model_pb), ("model_metadata.json", metadata)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out


#: What a virtual model is written as, beside out/<model>-virtual.tar.gz.
VIRTUAL_SUFFIX = "-virtual"


def export_virtual_model(folder: ModelFolder, out_dir: str | Path, checkpoint: str | int | None = "best"
                         ) -> tuple[Path, Path]:
    """Write ``folder``'s checkpoint as a deepracer-for-cloud / DeepRacer-on-AWS "virtual model": a folder
    ``out_dir`` and the same files as ``out_dir``.tar.gz (names at the tarball's root, as DeepRacer-on-AWS
    exports). rl_coach's TF1 checkpoint (trainer.coach: its variable names and shapes; .index, .data, .meta),
    ``model/.coach_checkpoint``, ``model/deepracer_checkpoints.json`` (best = last = this checkpoint, as
    DRfC's upload writes it), ``model/model_<n>.pb`` (the policy alone, as the simapp freezes it),
    ``model_metadata.json`` (root and model/), ``reward_function.py``, ``training_params.yaml``,
    ``hyperparameters.json`` (root and ip/) and ``metrics/``. ConfigError, and nothing written, when
    rl_coach has no network like the model's (trainer.coach.check_coach_network). Returns (folder, tarball)."""
    import shutil
    import tempfile

    from core.config import TrainingParams, parse_model_metadata
    from core.traces import TrainingMetrics
    from trainer import coach
    from trainer.export import export_frozen_graph
    from trainer.learner import CheckpointIO
    from trainer.networks import build_policy_value

    meta_bytes = folder.storage.get_bytes(folder.model_metadata())
    md = parse_model_metadata(json.loads(meta_bytes), source=folder.model_metadata())
    coach.check_coach_network(md, folder.model_metadata())
    n = choose_checkpoint(folder, checkpoint)
    steps = next(s for k, s in folder.list_checkpoints() if k == n)
    net = build_policy_value(md, seed=0)
    CheckpointIO(net, folder).restore(n, steps)
    variables = coach.coach_variables(net)
    # the written checkpoint read back as an import reads it gives the same network (a self-check)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        name = f"{n}_Step-{steps}.ckpt"
        model_dir = staging / "model"
        model_dir.mkdir(parents=True)
        coach.write_tf1_checkpoint(variables, model_dir / name)
        back, _ = coach.load_into_network(md, coach.read_checkpoint(model_dir / name, name), name)
        frames = coach.check_frames(md, 8)
        ours_pb = export_frozen_graph(net, include_value=False)
        diff = coach.max_policy_difference(coach.read_frozen_graph(ours_pb, "export"),
                                           export_frozen_graph(back, include_value=False), md, frames)
        if not diff < 1e-6:
            raise RuntimeError(f"the written rl_coach checkpoint reads back as another policy (max |difference| {diff:.3g})")
        (model_dir / ".coach_checkpoint").write_text(name)
        metric = None
        for entry in (folder.checkpoint_record() or {}).values():
            if isinstance(entry, dict) and entry.get("name") == name:
                metric = entry.get("avg_eval_metric")
        entry = {"name": name, "avg_eval_metric": metric, "time_stamp": time.time()}
        (model_dir / "deepracer_checkpoints.json").write_text(json.dumps({"best_checkpoint": entry,
                                                                           "last_checkpoint": entry}))
        (model_dir / f"model_{n}.pb").write_bytes(ours_pb)
        (model_dir / "model_metadata.json").write_bytes(meta_bytes)
        (staging / "model_metadata.json").write_bytes(meta_bytes)
        (staging / "reward_function.py").write_bytes(folder.storage.get_bytes(folder.reward_function()))
        if folder.storage.exists(folder.training_params()):
            params = TrainingParams.from_yaml(folder.storage.get_bytes(folder.training_params()).decode())
            (staging / "training_params.yaml").write_text(params.to_yaml())
        hp = folder.storage.get_bytes(folder.hyperparameters())
        (staging / "ip").mkdir()
        (staging / "ip" / "hyperparameters.json").write_bytes(hp)
        (staging / "hyperparameters.json").write_bytes(hp)
        for worker, entries in folder.read_training_metrics().items():
            dest = staging / "metrics" / folder.training_metrics(worker).rpartition("/")[2]
            dest.parent.mkdir(exist_ok=True)
            dest.write_text(TrainingMetrics.from_json_dict({"metrics": entries}).to_json())
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tarball = out.with_name(out.name + ".tar.gz")
    with tarfile.open(tarball, "w:gz") as tar:
        for p in sorted(out.rglob("*")):
            if p.is_file():
                tar.add(p, p.relative_to(out).as_posix())
    return out, tarball
