"""`make export MODEL=...`: the package the physical car loads (spec section 7).

A tar.gz holding ``agent/model.pb`` (the frozen policy graph with the DeepRacer tensor names) and
``model_metadata.json``, taken from the best checkpoint unless another is asked for.
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
