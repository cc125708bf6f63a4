"""``make pick``: which of a model's checkpoints to race and export, picked by racing them.

DeepRacer keeps the checkpoint with the best evaluation progress during training as the model's "best"; a
model trained here for another simulator's physics is better judged in that physics. Each of the model's last
CHECKPOINTS races TRIALS evaluation laps (the greedy policy, from the start line, as ``make evaluate``) in the
fast simulator or with the v6 reference's car in DART, at a selection seed that ``make evaluate``'s trials do
not use (its seed + PICK_SEED_OFFSET), so an evaluation afterwards is held out from the pick. The checkpoint
that laps most wins (a tie: the newer). With ``mark`` it is recorded as the model's best checkpoint in
``deepracer_checkpoints.json`` (what ``make export``, ``evaluate CHECKPOINT=best`` and ``compare`` take, and
what deepracer-for-cloud reads), its metric the pick's mean progress in percent, as the reference's metric is.

``make bench-transfer PICK=dart`` picks with the same rule (stack/transfer_bench.py); docs/dart.md has what
the pick gained there (20 selection laps in DART: 82 of 90 held-out DART trials against 75 for the last
checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The simulators a checkpoint can be picked in (Gazebo races too slowly for 40 or more selection laps).
PICK_SIMULATORS = ("fast", "dart")
#: The selection races' seed is the evaluation seed + this, far from every seed an evaluation uses.
PICK_SEED_OFFSET = 1000
#: Selection laps per checkpoint and checkpoints raced when not told (docs/dart.md: 20 laps pick better than 10).
DEFAULT_PICK_TRIALS = 20
DEFAULT_PICK_CHECKPOINTS = 4


@dataclass
class CheckpointLaps:
    """One checkpoint's selection races."""

    checkpoint: int
    trials: int
    laps: int
    mean_progress: float            # percent
    best_lap_s: float | None
    mean_lap_s: float | None


@dataclass
class PickResult:
    model: str
    track: str
    backend: str
    seed: int
    checkpoints: list[CheckpointLaps]   # oldest first
    picked: int
    #: with ``mark``: the best checkpoint deepracer_checkpoints.json named before ("" when none); else None
    replaced_best: str | None = None


def pick_checkpoint(by_checkpoint: list[tuple[int, int, int]]) -> int:
    """The checkpoint that lapped most of its selection races ((checkpoint, laps, trials), any order); a tie goes to
    the newer (the higher number)."""
    if not by_checkpoint:
        raise ValueError("pick_checkpoint: no checkpoint raced")
    return max(by_checkpoint, key=lambda c: (c[1] / c[2] if c[2] else 0.0, c[0]))[0]


def check_count(command: str, what: str, value, top: int | None = None) -> None:
    """ConfigError naming ``command`` and ``what`` unless ``value`` is a whole number from 1 (to ``top``: the
    checkpoints a model folder keeps)."""
    from core.config import ConfigError

    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (top is not None and value > top):
        allowed = f"1 to {top} (a model folder keeps its newest {top})" if top else "a whole number from 1"
        raise ConfigError(f"{command}: {what} must be {allowed}, got {value!r}")


def last_checkpoints(folder, count: int) -> list[int]:
    """The numbers of ``folder``'s newest ``count`` checkpoints, oldest first (fewer when it keeps fewer)."""
    return [c.number for c in folder.list_checkpoints()][-count:]


def race_checkpoints(folder, track: str | None, trials: int, backend: str, seeds: list[int], checkpoints: list[int],
                     gazebo_master_uri: str | None = None) -> tuple[str, list[tuple[int, list]]]:
    """``trials`` evaluation laps (stack.evaluate) of each of ``checkpoints`` at each of ``seeds`` in ``backend``:
    (the track raced, as evaluate resolved ``track``; (checkpoint, its TrialResults over all seeds) per checkpoint,
    in the order given)."""
    from .evaluate import evaluate

    raced, track_raced = [], track or ""
    for number in checkpoints:
        results = [evaluate(folder, track, trials=trials, checkpoint=number, seed=seed, backend=backend,
                            gazebo_master_uri=gazebo_master_uri) for seed in seeds]
        raced.append((number, [t for r in results for t in r.trials]))
        track_raced = results[-1].track
    return track_raced, raced


def checkpoint_laps(number: int, trials: list) -> CheckpointLaps:
    """A checkpoint's races summed up."""
    laps = [t.lap_time_s for t in trials if t.lap_time_s is not None]
    return CheckpointLaps(number, len(trials), len(laps), float(np.mean([t.progress for t in trials])),
                          min(laps) if laps else None, float(np.mean(laps)) if laps else None)


def pick(folder, track: str | None = None, backend: str = "dart", trials: int = DEFAULT_PICK_TRIALS,
         checkpoints: int = DEFAULT_PICK_CHECKPOINTS, seed: int = PICK_SEED_OFFSET, mark: bool = False,
         console=None) -> PickResult:
    """Race ``folder``'s last ``checkpoints`` checkpoints ``trials`` laps each in ``backend`` at ``seed`` and pick
    the one that lapped most (the module docstring); ``track``: default the model's own. With ``mark``, record
    the pick as the best checkpoint. Bad input raises ConfigError before anything races."""
    from core.config import ConfigError
    from core.model_folder import NUM_CHECKPOINTS_TO_KEEP

    if backend not in PICK_SIMULATORS:
        raise ConfigError(f"pick: BACKEND {backend!r} is not one a checkpoint can be picked in; allowed: "
                          f"{', '.join(PICK_SIMULATORS)}")
    check_count("pick", "CHECKPOINTS", checkpoints, NUM_CHECKPOINTS_TO_KEEP)
    check_count("pick", "TRIALS", trials)
    numbers = last_checkpoints(folder, checkpoints)
    if not numbers:
        raise ConfigError(f"pick: model {folder.prefix!r} has no checkpoint to pick from ({folder.describe()})")
    if console:
        console.print(f"picking {folder.prefix}'s checkpoint: {trials} trials x checkpoint"
                      f"{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))} in {backend} at seed {seed}"
                      + (f" (it keeps {len(numbers)}, not {checkpoints})" if len(numbers) < checkpoints else ""))
    track_raced, by_checkpoint = race_checkpoints(folder, track, trials, backend, [seed], numbers)
    raced = [checkpoint_laps(n, got) for n, got in by_checkpoint]
    picked = pick_checkpoint([(c.checkpoint, c.laps, c.trials) for c in raced])
    result = PickResult(folder.prefix, track_raced, backend, seed, raced, picked)
    if mark:
        before = folder.best_checkpoint()
        chosen = next(c for c in raced if c.checkpoint == picked)
        folder.mark_best(picked, chosen.mean_progress)
        result.replaced_best = before.name if before is not None else ""
    return result
