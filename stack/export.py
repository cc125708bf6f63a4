"""`make export MODEL=...`: the package the physical car loads (spec section 7).

A tar.gz holding ``agent/model.pb`` (the frozen policy graph with the DeepRacer tensor names) and
``model_metadata.json``, taken from the best checkpoint unless another is asked for.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from core.config import ConfigError
from core.model_folder import ModelFolder


def choose_checkpoint(folder: ModelFolder, which: str | int | None = "best") -> int:
    """Checkpoint number: "best" (highest evaluation progress), "last", or a number that exists."""
    available = folder.list_checkpoints()
    if not available:
        raise ConfigError(f"no checkpoints in {folder.describe()}; train the model first")
    numbers = [n for n, _ in available]
    if which in (None, "best"):
        best = folder.read_json(folder.deepracer_checkpoints()).get("best_checkpoint") or {}
        name = best.get("name")
        if name:
            return int(str(name).split("_", 1)[0])
        return numbers[-1]
    if which == "last":
        return numbers[-1]
    try:
        n = int(which)
    except (TypeError, ValueError):
        raise ConfigError(f"CHECKPOINT={which!r}: use best, last or a checkpoint number ({numbers})") from None
    if n not in numbers:
        raise ConfigError(f"checkpoint {n} is not in {folder.describe()}; available: {numbers}")
    return n


def export_car_package(folder: ModelFolder, out: str | Path, checkpoint: str | int | None = "best") -> Path:
    n = choose_checkpoint(folder, checkpoint)
    model_pb = folder.storage.get_bytes(folder.frozen_model(n))
    metadata = folder.storage.get_bytes(folder.model_metadata())
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
