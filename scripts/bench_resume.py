"""How long does RESUME of a long-trained model take before it trains? (issue 23's target: under 10 s
with 100,000 episodes of metrics.)

Trains a STATE model for one iteration in a temporary folder, then gives it a long history: its
checkpoint is published again as number N and its TrainingMetrics file holds EPISODES training
episodes over iterations 0..N-1 (the checkpoint's number is only a name; the weights stay the trained
ones). Then ``train --resume`` runs one more iteration, as a user's ``make train RESUME=1`` does, and
the script prints the seconds from the command's start to the first iteration's start (its report's
line, less the iteration's own seconds), for the model with its history and, as the baseline, for the
same model with no metrics at all. The difference is what the history costs.

    python scripts/bench_resume.py [--episodes 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_ITERATION_LINE = re.compile(r"^it\s+\d+ .*\s([\d.]+)s\s*$")


def _cli(models: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stack.cli", "train", "--model", "m", "--preset", "state", "--track", "reinvent",
            "--models-dir", str(models), "--seed", "0", *args]


def _first_iteration_start_s(cmd: list[str]) -> float:
    """Seconds from launching ``cmd`` to the start of its first training iteration."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    started = None
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = _ITERATION_LINE.match(line.strip())
        if m and started is None:
            started = time.monotonic() - t0 - float(m.group(1))
    if proc.wait() != 0 or started is None:
        raise SystemExit(f"{' '.join(cmd)} failed:\n" + "".join(lines[-30:]))
    return started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100_000, help="training episodes in the metrics (default 100000)")
    args = p.parse_args(argv)

    from core.config import preset_files
    from core.model_folder import ModelFolder
    from core.storage import LocalStorage
    from core.traces import ITERATION_KEY, TrainingMetrics

    per_iteration = json.loads(preset_files("state")[1].read_text())["num_episodes_between_training"]
    iterations = max(1, args.episodes // per_iteration)
    with tempfile.TemporaryDirectory(prefix="deepracer-bench-resume-") as tmp:
        models = Path(tmp)
        subprocess.run(_cli(models, "--episodes", str(per_iteration)), cwd=ROOT, check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL)
        folder = ModelFolder(LocalStorage(models), "m")
        latest = folder.latest_checkpoint()
        prefix = folder.checkpoint_prefix(*latest) + "."
        files = {k[len(prefix):]: folder.storage.get_bytes(k) for k in folder.storage.list(prefix)}
        folder.publish_checkpoint(iterations, latest.steps * iterations, files,
                                  frozen_pb=folder.storage.get_bytes(folder.frozen_model(latest.number)))
        history = TrainingMetrics()
        start_ms = 1_700_000_000_000
        for it in range(iterations):
            for trial in range(1, per_iteration + 1):
                episode = it * per_iteration + trial
                entry = history.add_episode(120.0 + trial, episode, trial, "training", 40 + trial % 60, "off_track",
                                            start_ms + 1000.0 * episode, start_ms + 1000.0 * episode + 800.0)
                entry[ITERATION_KEY] = it
        metrics_file = folder.training_metrics(0)
        folder.storage.put_bytes(metrics_file, history.to_json().encode())
        size_mb = folder.storage.size(metrics_file) / 1e6
        resume = _cli(models, "--resume", "--episodes", str(per_iteration))
        with_history = _first_iteration_start_s(resume)
        folder.storage.delete(metrics_file)
        for k in folder.storage.list(folder.key("metrics/")):
            folder.storage.delete(k)
        baseline = _first_iteration_start_s(resume)
    print(f"RESUME of a STATE model at checkpoint {iterations} with {iterations * per_iteration:,} training episodes "
          f"of metrics ({size_mb:.0f} MB): training starts {with_history:.1f} s after the command; with no "
          f"metrics {baseline:.1f} s (the history costs {with_history - baseline:+.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
