"""``make bench-soak``: is a long run as fast per iteration at the end as at the start?

Trains PRESET from scratch for MINUTES (the presets' stop rules lifted), one sim, and splits the run into
tenths of its iterations. Per tenth: the mean iteration time and the wall time per env step (iterations
lengthen while the policy learns to stay on the track longer: in a short run the iteration time grows for
that reason alone), the sims' storage share (seconds spent
writing and reading the model folder and sending episodes, against their time alive, from each sim's
``preview/sim-<i>/stats.json``), the learner's and the sims' resident memory at the tenth's end. It
fails (exit 1) when the last tenth's iteration time is more than SLOWDOWN_LIMIT above the second's, or
memory grew more than MEMORY_GROWTH_LIMIT from the second tenth to the last (the first tenth holds the
start-up: TensorFlow loading, the first iterations' tracing).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Allowed growth from the second tenth to the last: iteration time, and learner + sim memory.
SLOWDOWN_LIMIT = 0.10
MEMORY_GROWTH_LIMIT = 0.10


@dataclass
class SoakTenth:
    tenth: int                  # 1..10
    iterations: tuple[int, int]  # first and last iteration (1-based) of the tenth
    iteration_s: float           # mean wall time per iteration
    step_ms: float               # wall time per env step (episodes grow longer as the policy learns)
    storage_share: float         # sims' storage seconds / their seconds alive, within the tenth
    learner_rss_mb: float
    sim_rss_mb: float            # all sims together


@dataclass
class SoakResult:
    preset: str
    minutes: float
    iterations: int
    episodes: int
    tenths: list[SoakTenth] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _learner_rss_mb() -> float:
    from simulation.worker import rss_mb

    return rss_mb()


def bench_soak(minutes: float = 60.0, preset: str = "state", track: str = "reinvent_base", seed: int = 0,
               models_dir: str | Path | None = None, console=None) -> SoakResult:
    """Train and measure (the module docstring)."""
    from core.model_folder import ModelFolder
    from core.storage import StorageKeyError

    from .bench import _NO_EARLY_STOP
    from .train import TrainRequest, run_training

    samples: list[dict] = []     # per iteration: seconds, learner rss, and per sim (storage_s, alive_s, rss_mb)

    def on_report(r, folder: ModelFolder) -> None:
        sims = {}
        for w in range(8):
            try:
                sims[w] = folder.read_json(folder.sim_stats(w))
            except (StorageKeyError, ValueError):
                if w > 0:
                    break
        samples.append({"seconds": r.seconds, "learner_rss_mb": _learner_rss_mb(), "sims": sims,
                        "episodes": r.total_episodes, "steps": r.env_steps})

    with tempfile.TemporaryDirectory(prefix="deepracer-bench-soak-") as tmp:
        root = Path(models_dir) if models_dir else Path(tmp)
        name = f"soak-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        req = TrainRequest(track=track, model=name, preset=preset, minutes=minutes, models_dir=root, seed=seed,
                           hyperparameter_overrides=dict(_NO_EARLY_STOP), overrides_source="bench soak")
        reports, _ = run_training(req, console, on_report=on_report)
    result = SoakResult(preset, minutes, len(reports), reports[-1].total_episodes if reports else 0)
    n = len(samples)
    if n < 10:
        result.failures.append(f"only {n} iterations: too few to split into tenths (train longer)")
        return result
    bounds = [round(i * n / 10) for i in range(11)]
    for t in range(10):
        part = samples[bounds[t]:bounds[t + 1]]
        before = samples[bounds[t] - 1] if bounds[t] > 0 else None
        end = part[-1]
        storage = alive = 0.0
        for w, s in end["sims"].items():
            s0 = (before or {}).get("sims", {}).get(w, {"storage_s": 0.0, "alive_s": 0.0})
            storage += float(s["storage_s"]) - float(s0["storage_s"])
            alive += float(s["alive_s"]) - float(s0["alive_s"])
        result.tenths.append(SoakTenth(
            t + 1, (bounds[t] + 1, bounds[t + 1]), sum(p["seconds"] for p in part) / len(part),
            1000.0 * sum(p["seconds"] for p in part) / max(1, sum(p["steps"] for p in part)),
            storage / alive if alive > 0 else 0.0, end["learner_rss_mb"],
            sum(float(s["rss_mb"]) for s in end["sims"].values())))
    second, last = result.tenths[1], result.tenths[-1]
    if last.iteration_s > (1 + SLOWDOWN_LIMIT) * second.iteration_s:
        result.failures.append(f"the last tenth's iterations take {last.iteration_s:.2f} s, "
                               f"{last.iteration_s / second.iteration_s - 1:.0%} more than the second tenth's "
                               f"{second.iteration_s:.2f} s (allowed {SLOWDOWN_LIMIT:.0%})")
    for what, a, b in (("learner", second.learner_rss_mb, last.learner_rss_mb),
                       ("sims'", second.sim_rss_mb, last.sim_rss_mb)):
        if a > 0 and b > (1 + MEMORY_GROWTH_LIMIT) * a:
            result.failures.append(f"the {what} memory grew from {a:.0f} MB to {b:.0f} MB ({b / a - 1:.0%}; "
                                   f"allowed {MEMORY_GROWTH_LIMIT:.0%})")
    return result


def soak_table_lines(result: SoakResult) -> list[str]:
    """The tenths as Markdown table lines."""
    lines = ["| tenth | iterations | s / iteration | ms / env step | storage share | learner RSS MB | sims RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for t in result.tenths:
        lines.append(f"| {t.tenth} | {t.iterations[0]}-{t.iterations[1]} | {t.iteration_s:.2f} | {t.step_ms:.3f} | "
                     f"{100 * t.storage_share:.1f}% | {t.learner_rss_mb:.0f} | {t.sim_rss_mb:.0f} |")
    return lines
