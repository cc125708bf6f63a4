"""`make import FROM=... MODEL=name`: a model from deepracer-for-cloud, DeepRacer-on-AWS or the console, here.

Sources (FROM):
- a model folder in the DRfC layout (spec section 6; what DRfC's S3 prefix and DeepRacer-on-AWS's "virtual
  model" hold): ``model/model_metadata.json``, rl_coach's TF1 checkpoint ``model/<n>_Step-<m>.ckpt.{index,
  data-00000-of-00001}`` named by ``model/.coach_checkpoint``, ``model/model_<n>.pb``, ``reward_function.py``,
  ``training_params.yaml``, ``ip/hyperparameters.json`` (or at the top);
- a tar.gz of such a folder, or the console's "physical model" / car package (``agent/model.pb`` or
  ``model.pb`` plus ``model_metadata.json``);
- ``s3://bucket/prefix``: a model folder in S3 (DEEPRACER_S3_ENDPOINT, AWS_ACCESS_KEY_ID /
  AWS_SECRET_ACCESS_KEY as for the stack's storage).

The weights are read by rl_coach's names (trainer/coach.py, their one home) from the checkpoint (both towers:
network_0 value, network_1 policy) or, without one, from the frozen graph's constants (the policy tower only;
the value tower then starts as a copy of the policy tower's layers with a fresh value head, which is what
CLONE= training needs). They go into this project's networks, which are checked to give the same policy
output as the imported frozen graph on IMPORT_CHECK_FRAMES camera frames (max |difference| below
IMPORT_MAX_DIFFERENCE), and the folder is written in this project's form: our checkpoint and frozen graph
under the imported checkpoint's number, the imported text files as they were (the metadata validated), the
imported metrics. Nothing is written unless every check passed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from core.config import ConfigError, ModelMetadata, parse_model_metadata

#: Frames the imported and the re-exported policy are compared on, and the largest |difference| allowed.
IMPORT_CHECK_FRAMES = 100
IMPORT_MAX_DIFFERENCE = 1e-4
#: The largest source accepted (bytes, all files read together): a console model is about 25-60 MB.
MAX_IMPORT_BYTES = 2 * 1024**3

_PB = re.compile(r"model_(\d+)\.pb")
_CKPT = re.compile(r"(\d+)_Step-(\d+)\.ckpt\.(index|data-00000-of-00001|meta)")


class ModelImportError(ConfigError):
    """A source that cannot be imported: the message names the file and what was expected."""


# ------------------------------------------------------------------------------------------------ sources
@dataclass
class Source:
    """The files of an import source: relative POSIX names -> a reader of their bytes."""

    where: str                                     # for messages: the folder, tarball or s3 URL
    readers: dict[str, Callable[[], bytes]]

    @property
    def names(self) -> list[str]:
        return sorted(self.readers)

    def read(self, name: str) -> bytes:
        return self.readers[name]()

    def label(self, name: str) -> str:
        """``name`` as a user finds it ("<where>/<name>" or "<tarball>:<name>")."""
        sep = ":" if self.where.endswith((".tar.gz", ".tgz", ".tar")) else "/"
        return f"{self.where.rstrip('/')}{sep}{name}"


def open_source(src: str) -> Source:
    """The files of FROM (a folder, a tar.gz or s3://bucket/prefix); ModelImportError naming what is wrong."""
    if not src:
        raise ModelImportError("FROM is required: a model folder, a .tar.gz or s3://bucket/prefix")
    if src.startswith("s3://"):
        return _s3_source(src)
    path = Path(src).expanduser()
    if path.is_dir():
        return _folder_source(path)
    if path.is_file():
        return _tar_source(path)
    raise ModelImportError(f"FROM={src}: no such folder or file (a model folder, a .tar.gz or s3://bucket/prefix)")


def _folder_source(root: Path) -> Source:
    readers = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            readers[p.relative_to(root).as_posix()] = p.read_bytes
    return Source(str(root), readers)


def _tar_source(path: Path) -> Source:
    """A tarball's regular files; refuses links, devices and names outside the tarball's root."""
    try:
        tar = tarfile.open(path, "r:*")
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelImportError(f"{path}: not a readable tar.gz ({exc}); expected a model folder packed with tar") from None
    readers: dict[str, Callable[[], bytes]] = {}
    total = 0
    for m in members:
        name = PurePosixPath(m.name)
        if name.is_absolute() or ".." in name.parts:
            raise ModelImportError(f"{path}: member {m.name!r} points outside the tarball's root; refusing it")
        if m.isdir():
            continue
        if not m.isfile():
            raise ModelImportError(f"{path}: member {m.name!r} is a link or a device, not a file; refusing the tarball")
        total += m.size
        if total > MAX_IMPORT_BYTES:
            raise ModelImportError(f"{path}: more than {MAX_IMPORT_BYTES // 1024**2} MB of files; not a model")

        def read(m=m) -> bytes:
            f = tar.extractfile(m)
            assert f is not None
            return f.read()
        rel = "/".join(p for p in name.parts if p not in ("", "."))
        readers[rel] = read
    return Source(str(path), readers)


def _s3_source(url: str) -> Source:
    from core.s3_storage import S3Storage

    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise ModelImportError(f"FROM={url}: name the bucket, s3://bucket/prefix")
    storage = S3Storage.from_env(bucket=bucket)
    prefix = prefix.strip("/")
    keys = storage.list(f"{prefix}/" if prefix else "")
    readers = {k[len(prefix) + 1 if prefix else 0:]: (lambda k=k: storage.get_bytes(k)) for k in keys}
    return Source(url, readers)


# ------------------------------------------------------------------------------------------------ the layout
@dataclass
class Layout:
    """Where a source keeps a model's files (names relative to the source; None when absent)."""

    metadata: str
    root: str                      # "" or "dir/": the folder holding reward_function.py etc.
    model_dir: str                 # the folder holding model_metadata.json
    frozen: dict[int, str] = field(default_factory=dict)       # checkpoint number -> model_<n>.pb
    package_pb: str | None = None                              # agent/model.pb or model.pb (no number)
    checkpoints: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)  # (n, steps) -> suffix -> name
    coach_pointer: str | None = None
    checkpoint_record: str | None = None
    reward: str | None = None
    hyperparameters: str | None = None
    training_params: str | None = None
    metrics: list[str] = field(default_factory=list)


def find_layout(source: Source) -> Layout:
    names = source.names
    metas = [n for n in names if PurePosixPath(n).name == "model_metadata.json"]
    if not metas:
        raise ModelImportError(f"{source.where}: no model_metadata.json (a DRfC model folder has model/model_metadata.json, "
                               "a car package model_metadata.json beside agent/model.pb)")
    # the one in a model/ folder (a virtual model also keeps a copy at its root), else the shallowest
    meta = min(metas, key=lambda n: (not (n == "model/model_metadata.json" or n.endswith("/model/model_metadata.json")),
                                     n.count("/"), n))
    model_dir = meta[: -len("model_metadata.json")]
    root = model_dir[: -len("model/")] if model_dir.endswith("model/") or model_dir == "model/" else model_dir
    lay = Layout(meta, root, model_dir)
    for n in names:
        if not n.startswith(model_dir) or "/" in n[len(model_dir):]:
            continue
        base = n[len(model_dir):]
        if m := _PB.fullmatch(base):
            lay.frozen[int(m.group(1))] = n
        elif m := _CKPT.fullmatch(base):
            lay.checkpoints.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = n
        elif base == ".coach_checkpoint":
            lay.coach_pointer = n
        elif base == "deepracer_checkpoints.json":
            lay.checkpoint_record = n
        elif base == "model.pb":
            lay.package_pb = n
    for cand in (f"{root}agent/model.pb", f"{root}model.pb"):
        if lay.package_pb is None and cand in source.readers:
            lay.package_pb = cand
    pick = (lambda *c: next((x for x in c if x in source.readers), None))
    lay.reward = pick(f"{root}reward_function.py")
    lay.hyperparameters = pick(f"{root}ip/hyperparameters.json", f"{root}hyperparameters.json")
    lay.training_params = pick(f"{root}training_params.yaml")
    lay.metrics = [n for n in names if n.startswith(f"{root}metrics/") and n.endswith(".json")]
    return lay


# ------------------------------------------------------------------------------------------------ the import
@dataclass
class ImportResult:
    model: str
    folder: str                        # where it was written (describe())
    checkpoint: int
    steps: int
    weights_from: str                  # the file the weights came from
    value_from: str                    # the value tower's origin
    max_difference: float              # imported frozen graph vs ours, on the check frames
    frames: int
    seconds: float
    files: list[str]                   # what was written, relative to the folder
    notes: list[str] = field(default_factory=list)


def _read_metadata(source: Source, lay: Layout) -> tuple[bytes, ModelMetadata]:
    raw = source.read(lay.metadata)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ModelImportError(f"{source.label(lay.metadata)}: not valid JSON ({exc})") from None
    return raw, parse_model_metadata(data, source.label(lay.metadata))


def _choose_checkpoint(source: Source, lay: Layout, which: str) -> tuple[int, int] | None:
    """The TF1 checkpoint to import ((number, steps)), or None when the source has none."""
    if not lay.checkpoints:
        return None
    if lay.coach_pointer is None:
        raise ModelImportError(f"{source.where}: checkpoint files ({', '.join(sorted(v['index'] for v in lay.checkpoints.values() if 'index' in v))}) "
                               f"but no {lay.model_dir}.coach_checkpoint naming the current one (rl_coach writes it)")
    from core.model_folder import Checkpoint

    pointer = Checkpoint.parse(source.read(lay.coach_pointer).decode("utf-8", "replace"))
    if pointer is None:
        raise ModelImportError(f"{source.label(lay.coach_pointer)}: expected a checkpoint name '<n>_Step-<steps>.ckpt'")
    chosen = (pointer.number, pointer.steps)
    if which == "best" and lay.checkpoint_record:
        try:
            best = Checkpoint.parse((json.loads(source.read(lay.checkpoint_record)).get("best_checkpoint") or {})
                                    .get("name") or "")
        except (ValueError, AttributeError):
            best = None
        if best is not None and (best.number, best.steps) in lay.checkpoints:
            chosen = (best.number, best.steps)
    elif which not in ("best", "last"):
        try:
            n = int(which)
        except ValueError:
            raise ModelImportError(f"CHECKPOINT={which!r}: use best, last or a checkpoint number "
                                   f"({sorted(k[0] for k in lay.checkpoints)})") from None
        found = [k for k in lay.checkpoints if k[0] == n]
        if not found:
            raise ModelImportError(f"checkpoint {n} is not in {source.where}; there: {sorted(k[0] for k in lay.checkpoints)}")
        chosen = found[0]
    files = lay.checkpoints.get(chosen, {})
    for sfx in ("index", "data-00000-of-00001"):
        if sfx not in files:
            raise ModelImportError(f"{source.where}: checkpoint {chosen[0]}_Step-{chosen[1]}.ckpt has no .{sfx} file "
                                   f"({lay.coach_pointer} names it)")
    return chosen


def import_model(src: str, model: str, models_dir: str | Path, checkpoint: str = "best", track: str | None = None,
                 console=None) -> ImportResult:
    """Import FROM=``src`` as model folder ``model`` under ``models_dir`` (the module docstring)."""
    from core.storage import LocalStorage
    from trainer import coach

    t0 = time.monotonic()
    if not model or "/" in model or model.startswith("."):
        raise ModelImportError(f"MODEL={model!r}: give the new model folder's name (letters, digits, - and _)")
    target = Path(models_dir) / model
    if target.exists():
        raise ModelImportError(f"{target} already exists; import under another MODEL= (nothing was changed)")
    source = open_source(src)
    lay = find_layout(source)
    raw_meta, md = _read_metadata(source, lay)
    coach.check_coach_network(md, source.label(lay.metadata))
    chosen = _choose_checkpoint(source, lay, checkpoint)
    notes: list[str] = []
    # the frozen graph that belongs to the chosen checkpoint (or the only one there is)
    if chosen is not None:
        number, steps = chosen
        pb_name = lay.frozen.get(number) or lay.package_pb
    else:
        if lay.frozen:
            number = max(lay.frozen) if checkpoint in ("best", "last") else int(checkpoint)
            if number not in lay.frozen:
                raise ModelImportError(f"no model_{number}.pb in {source.where}; there: {sorted(lay.frozen)}")
            pb_name = lay.frozen[number]
        elif lay.package_pb:
            number, pb_name = 0, lay.package_pb
        else:
            raise ModelImportError(f"{source.where}: no weights: neither a checkpoint (<n>_Step-<steps>.ckpt.index/.data, "
                                   "named by .coach_checkpoint) nor a frozen graph (model_<n>.pb, agent/model.pb)")
        steps = 0
    pb_bytes = source.read(pb_name) if pb_name else None
    graph = coach.read_frozen_graph(pb_bytes, source.label(pb_name)) if pb_bytes is not None else None

    if chosen is not None:
        files = lay.checkpoints[chosen]
        with tempfile.TemporaryDirectory(prefix="deepracer-import-") as tmp:
            prefix = Path(tmp) / f"{number}_Step-{steps}.ckpt"
            for sfx in ("index", "data-00000-of-00001"):
                Path(f"{prefix}.{sfx}").write_bytes(source.read(files[sfx]))
            weights = coach.read_checkpoint(prefix, source.label(files["index"]))
        weights_from = source.label(files["index"])
    else:
        assert graph is not None
        weights = coach.graph_constants(graph)
        weights_from = source.label(pb_name)
    net, value_from = coach.load_into_network(md, weights, weights_from)
    if value_from != "checkpoint":
        notes.append("the value network is not in a frozen graph: it starts as a copy of the policy network's "
                     "layers with a fresh value head (CLONE= training relearns it)")

    from trainer.export import export_frozen_graph

    ours = export_frozen_graph(net)
    frames = coach.check_frames(md, IMPORT_CHECK_FRAMES, seed=0)
    if graph is not None:
        diff = coach.max_policy_difference(graph, ours, md, frames)
        if not diff <= IMPORT_MAX_DIFFERENCE:
            raise ModelImportError(f"{source.label(pb_name)}: the imported weights give other actions than the model's own "
                                   f"frozen graph (max |difference| {diff:.3g} on {IMPORT_CHECK_FRAMES} frames, allowed "
                                   f"{IMPORT_MAX_DIFFERENCE:g}); its network is not the one model_metadata.json describes")
    else:
        diff = float("nan")
        notes.append("no frozen graph to check the weights against (the checkpoint alone was imported)")

    # ---- write: into a temporary folder beside the target, renamed into place at the end
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".import-{model}-", dir=models_dir))
    try:
        _write_folder(staging, source, lay, raw_meta, track, notes)
        from core.model_folder import ModelFolder

        folder = ModelFolder(LocalStorage(staging))
        from trainer.learner import CheckpointIO

        CheckpointIO(net, folder, lambda: ours).publish(number, steps, None)
        record = {"source": source.where, "weights": weights_from, "value_network": value_from,
                  "frozen_graph": source.label(pb_name) if pb_name else None,
                  "frozen_graph_sha256": hashlib.sha256(pb_bytes).hexdigest() if pb_bytes else None,
                  "max_policy_difference": None if np.isnan(diff) else diff, "check_frames": IMPORT_CHECK_FRAMES,
                  "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (staging / "import.json").write_text(json.dumps(record, indent=2) + "\n")
        staging.chmod(0o755)                 # mkdtemp made it private; a model folder is not
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    return ImportResult(model, str(target), number, steps, weights_from, value_from, diff, IMPORT_CHECK_FRAMES,
                        time.monotonic() - t0, written, notes)


def _write_folder(root: Path, source: Source, lay: Layout, raw_meta: bytes, track: str | None,
                  notes: list[str]) -> None:
    """The text files of the imported model into ``root`` (a model folder in our layout)."""
    from core.config import DEFAULT_CAR_DYNAMICS, TrainingParams, load_hyperparameters, parse_hyperparameters

    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / "model_metadata.json").write_bytes(raw_meta)
    if lay.reward:
        (root / "reward_function.py").write_bytes(source.read(lay.reward))
    else:
        from core.config import PRESETS_DIR

        default_reward = PRESETS_DIR.parent / "rewards" / "default.py"
        (root / "reward_function.py").write_bytes(default_reward.read_bytes())
        notes.append("no reward_function.py came with it: rewards/default.py was put in its place (evaluation "
                     "laps do not depend on it; give REWARD= to CLONE= training)")
    (root / "ip").mkdir(exist_ok=True)
    if lay.hyperparameters:
        raw = source.read(lay.hyperparameters)
        try:
            parse_hyperparameters(json.loads(raw), source.label(lay.hyperparameters))
        except ValueError as exc:
            raise ModelImportError(f"{source.label(lay.hyperparameters)}: {exc}") from None
        (root / "ip" / "hyperparameters.json").write_bytes(raw)
    else:
        from core.config import preset_files

        hp_file = preset_files("default")[1]
        load_hyperparameters(hp_file)
        (root / "ip" / "hyperparameters.json").write_bytes(hp_file.read_bytes())
        notes.append("no hyperparameters.json came with it: the default preset's was put in its place")
    if lay.training_params:
        data = TrainingParams.from_yaml(source.read(lay.training_params).decode("utf-8", "replace"),
                                        source.label(lay.training_params)).to_dict()
    else:
        data = {"WORLD_NAME": "reinvent_base"}
        notes.append(f"no training_params.yaml came with it: the track is {track or 'reinvent_base'} (TRACK= sets it)")
    if track:
        data["WORLD_NAME"] = track
    if not data.get("CAR_DYNAMICS"):
        data["CAR_DYNAMICS"] = DEFAULT_CAR_DYNAMICS
        notes.append(f"its car is recorded as {DEFAULT_CAR_DYNAMICS}, this project's car fitted to the v6 reference's "
                     "(DEEPRACER_DYNAMICS= races it in another)")
    params = TrainingParams.from_dict(data, "the imported training_params.yaml")
    (root / "training_params.yaml").write_text(params.to_yaml())
    for name in lay.metrics:
        dest = root / name[len(lay.root):]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read(name))


__all__ = ["import_model", "open_source", "find_layout", "ImportResult", "ModelImportError", "IMPORT_CHECK_FRAMES",
           "IMPORT_MAX_DIFFERENCE"]
