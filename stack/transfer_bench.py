"""``make bench-transfer``: does a model trained here drive where races are held?

Trains camera models at racing speed (the racing line's suggested actions and its reward, as ``bench laps``)
for MINUTES each, without and with robust training (simulation/robust.py), and a STATE model; then races each
TRIALS evaluation laps from the start line (the greedy policy; the last checkpoint, or each of the last
CHECKPOINTS, at SEEDS evaluation seeds, since one checkpoint at one seed is a lottery) in the fast simulator,
with the v6 reference's car in DART (simulation/dart) and, when a Gazebo sim answers, in our Gazebo (v5) car.
Per model and simulator: laps completed, mean progress, best and mean lap, and the mean lap's ratio to the
fast simulator's.

With PICK_IN (``pick_in``: "fast" or "dart") each model's checkpoint is picked first, as a racer picks the one
to export: each of its last CHECKPOINTS races PICK_TRIALS laps in that simulator at a selection seed that no
evaluation uses (the evaluation seed + PICK_SEED_OFFSET), the one that laps most wins (a tie: the newer). Then
only the pick races in every simulator, at the evaluation seeds (held out from the pick), and the last
checkpoint races beside it in the picking simulator at the same seeds (when the pick is the last, its row is
repeated, not raced again), so the report shows what the pick gained.

The training curves (the learner's greedy evaluation lap per iteration against wall time) go into
``curves.png``, the table into ``report.md``, in ``out/bench-transfer/``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .pick import (PICK_SEED_OFFSET, PICK_SIMULATORS, check_count, checkpoint_laps, last_checkpoints, pick_checkpoint,
                   race_checkpoints)

#: The simulators raced in, in order; "gazebo" only with a Gazebo sim.
SIMULATORS = ("fast", "dart", "gazebo")
#: A pick's selection races: (simulator, seed, (checkpoint, laps, trials) of each checkpoint, oldest first).
Pick = tuple[str, int, list[tuple[int, int, int]]]


@dataclass
class TransferRow:
    model: str
    simulator: str
    trials: int
    laps: int
    mean_progress: float
    best_lap_s: float | None
    mean_lap_s: float | None
    ratio_to_fast: float | None = None     # mean lap / the fast simulator's mean lap
    #: (checkpoint, laps, trials) of each checkpoint raced (all seeds together), oldest first
    by_checkpoint: list[tuple[int, int, int]] = field(default_factory=list)
    #: which checkpoint(s) raced: "last", "last 4", "picked in dart" (the pick) or "last, beside the pick"
    checkpoint_choice: str = "last"


@dataclass
class TrainedModel:
    name: str
    sensor: str
    robust: bool
    minutes: float
    iterations: int
    episodes: int
    curve: list[tuple[float, float | None, float]] = field(default_factory=list)   # (wall min, eval lap s, eval progress)


@dataclass
class TransferResult:
    track: str
    reference_lap_s: float
    speed_share: float
    models: list[TrainedModel]
    rows: list[TransferRow]
    notes: list[str]
    out_dir: Path
    #: hyperparameters set on top of each preset's file (bench transfer --hp), as given
    hyperparameters: dict[str, str] = field(default_factory=dict)
    #: per model, the selection races of its pick
    picks: dict[str, Pick] = field(default_factory=dict)


def _train(name: str, preset: str, robust: bool, minutes: float, track: str, seed: int, models_dir: Path,
           console, speed_share: float = 1.0, hyperparameters: dict[str, str] | None = None) -> TrainedModel:
    """Train ``preset``'s sensors and network with the racing line's actions (their speeds x ``speed_share``) and
    reward (bench laps' recipe); ``hyperparameters``: keys set on top of the preset's file."""
    from core.config import preset_files
    from simulation.raceline import DEFAULT_ACTIONS, action_space_metadata, load_or_compute, reward_source
    from simulation.track import Track

    from .bench import _NO_EARLY_STOP
    from .train import TrainRequest, run_training

    rl, _ = load_or_compute(Track.load(track))
    metadata_file, hp_file = preset_files(preset)
    meta = action_space_metadata(rl, DEFAULT_ACTIONS, json.loads(metadata_file.read_text()), speed_share=speed_share)
    model = TrainedModel(name, meta["sensor"][0], robust, minutes, 0, 0)
    t0 = {"t": time.monotonic()}

    def on_report(r, _folder) -> None:
        model.curve.append(((time.monotonic() - t0["t"]) / 60.0, r.eval_best_lap_s,
                            float(r.eval_progress) if r.eval_progress is not None else 0.0))

    with tempfile.TemporaryDirectory(prefix="deepracer-bench-transfer-") as tmp:
        setup = Path(tmp)
        (setup / "model_metadata.json").write_text(json.dumps(meta, indent=4))
        (setup / "reward_function.py").write_text(reward_source(rl, track))
        req = TrainRequest(track=track, model=name, metadata=setup / "model_metadata.json", hyperparameters=hp_file,
                           reward=setup / "reward_function.py", minutes=minutes, models_dir=models_dir, seed=seed,
                           race={"robust_training": True} if robust else None,
                           hyperparameter_overrides={**_NO_EARLY_STOP, **(hyperparameters or {})},
                           overrides_source="bench transfer --hp")
        if console:
            console.print(f"training {name}: {preset} network, {'robust' if robust else 'plain'}, {minutes:g} min")
        t0["t"] = time.monotonic()
        reports, _ = run_training(req, console, on_report=on_report)
    model.iterations = len(reports)
    model.episodes = reports[-1].total_episodes if reports else 0
    return model


def _race(folder, track: str, trials: int, simulator: str, seeds: list[int], checkpoints: list[int],
          gazebo_master_uri: str | None) -> TransferRow:
    """``trials`` laps of each of ``checkpoints`` at each of ``seeds`` in ``simulator``, summed up in one row."""
    _, raced = race_checkpoints(folder, track, trials, simulator, seeds, checkpoints, gazebo_master_uri)
    whole = checkpoint_laps(-1, [t for _, got in raced for t in got])    # the row: every checkpoint's trials
    by = [checkpoint_laps(number, got) for number, got in raced]
    return TransferRow(folder.prefix, simulator, whole.trials, whole.laps, whole.mean_progress, whole.best_lap_s,
                       whole.mean_lap_s, by_checkpoint=[(c.checkpoint, c.laps, c.trials) for c in by])


def race_model(folder, track: str, trials: int, simulators: list[str], seeds: list[int], checkpoints: int,
               gazebo_master_uri: str | None = None, pick_in: str | None = None, pick_trials: int = 20,
               console=None) -> tuple[list[TransferRow], Pick | None]:
    """Race ``folder``'s model in each of ``simulators`` (the module docstring): its last ``checkpoints``
    checkpoints, or, with ``pick_in``, the one picked by ``pick_trials`` selection laps each there (and the last
    beside it in ``pick_in``). Returns (the rows, the pick's (simulator, seed, selection by checkpoint) or None)."""
    numbers = last_checkpoints(folder, checkpoints)
    pick = None
    choice = "last" if len(numbers) == 1 else f"last {len(numbers)}"
    if pick_in:
        pick_seed = seeds[0] + PICK_SEED_OFFSET
        if console:
            console.print(f"picking {folder.prefix}'s checkpoint: {pick_trials} trials x checkpoints "
                          f"{', '.join(map(str, numbers))} in {pick_in} at seed {pick_seed}")
        selection = _race(folder, track, pick_trials, pick_in, [pick_seed], numbers, gazebo_master_uri)
        pick = (pick_in, pick_seed, selection.by_checkpoint)
        last = numbers[-1]
        numbers = [pick_checkpoint(selection.by_checkpoint)]
        choice = f"picked in {pick_in}"
    rows: list[TransferRow] = []
    fast = None
    plan = [(sim, numbers, choice) for sim in simulators]
    if pick:
        plan.insert(simulators.index(pick_in) + 1, (pick_in, [last], "last, beside the pick"))
    raced: dict[tuple[str, tuple[int, ...]], TransferRow] = {}
    for sim, nums, what in plan:
        if (sim, tuple(nums)) in raced:    # the pick was the last: the same races
            rows.append(replace(raced[sim, tuple(nums)], checkpoint_choice=what, ratio_to_fast=None))
            continue
        if console:
            console.print(f"racing {folder.prefix}: {trials} trials x checkpoint{'s' if len(nums) > 1 else ''} "
                          f"{', '.join(map(str, nums))} ({what}) x {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
                          f"in {sim}")
        row = _race(folder, track, trials, sim, seeds, nums, gazebo_master_uri)
        row.checkpoint_choice = what
        raced[sim, tuple(nums)] = row
        if sim == "fast" and what == choice:
            fast = row
        if what == choice and fast is not None and fast.mean_lap_s and row.mean_lap_s:
            row.ratio_to_fast = row.mean_lap_s / fast.mean_lap_s
        rows.append(row)
    return rows, pick


def check_hyperparameters(hyperparameters: dict[str, str]) -> None:
    """ConfigError unless every key is one of hyperparameters.json's and every value valid for it (on top of the
    DRfC defaults, as on each preset's file)."""
    from core.config import Hyperparameters, check_override_keys, parse_hyperparameters

    if hyperparameters:
        check_override_keys(hyperparameters, "hyperparameters", "bench transfer --hp")
        parse_hyperparameters({**Hyperparameters().to_json_dict(), **hyperparameters}, source="bench transfer --hp")


def parse_hp_options(options: list[str] | None) -> dict[str, str]:
    """``--hp KEY=VALUE`` options as a dict (a later KEY wins); ConfigError naming an option without "="."""
    from core.config import ConfigError

    out: dict[str, str] = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"bench transfer --hp takes KEY=VALUE (a key of hyperparameters.json, e.g. "
                              f"num_epochs=3), got {option!r}")
        out[key.strip()] = value.strip()
    return out


def gazebo_answers(master_uri: str | None) -> tuple[bool, str]:
    """(a Gazebo sim's ROS master answers at ``master_uri``, why not)."""
    import socket
    from urllib.parse import urlsplit

    if not master_uri:
        return False, "no GAZEBO_MASTER_URI (run it in compose: make bench-transfer GAZEBO=1)"
    parts = urlsplit(master_uri)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 11311), timeout=2.0):
            return True, ""
    except OSError as exc:
        return False, f"no Gazebo sim answers at {master_uri} ({exc})"


def bench_transfer(minutes: float = 30.0, state_minutes: float | None = None, track: str = "reinvent_base",
                   trials: int = 10, seed: int = 0, out_dir: str | Path = "out/bench-transfer",
                   gazebo_master_uri: str | None = None, console=None, checkpoints: int = 1,
                   seeds: int = 1, speed_share: float = 1.0,
                   hyperparameters: dict[str, str] | None = None, pick_in: str | None = None,
                   pick_trials: int = 20) -> TransferResult:
    """Train and race (the module docstring). ``state_minutes``: the STATE model's training time (default
    a third of ``minutes``; 0 leaves it out). Each model races ``trials`` laps with each of its last
    ``checkpoints`` checkpoints (1 to NUM_CHECKPOINTS_TO_KEEP) at each of ``seeds`` evaluation seeds (seed,
    seed + 1, ...). ``speed_share``: the share of the racing line's speeds its actions take (simulation.raceline.
    SPEED_SHARE_RANGE; every model, the STATE model too). ``hyperparameters``: keys of hyperparameters.json set on
    top of each preset's file (every model), e.g. {"num_epochs": "3"}; checked before anything is trained.
    ``pick_in``: pick each model's checkpoint among its last ``checkpoints`` (2 or more) by ``pick_trials`` laps
    each in that simulator (PICK_SIMULATORS; the module docstring)."""
    from core.config import ConfigError
    from core.model_folder import NUM_CHECKPOINTS_TO_KEEP, ModelFolder
    from core.storage import LocalStorage
    from simulation.raceline import check_speed_share, load_or_compute
    from simulation.track import Track

    check_speed_share(speed_share)
    for what, value, top in (("checkpoints", checkpoints, NUM_CHECKPOINTS_TO_KEEP), ("seeds", seeds, None),
                             ("trials", trials, None), ("pick trials", pick_trials, None)):
        check_count("bench transfer", what, value, top)
    if pick_in is not None:
        if pick_in not in PICK_SIMULATORS:
            raise ConfigError(f"bench transfer: a checkpoint can be picked in {' or '.join(PICK_SIMULATORS)}, "
                              f"got {pick_in!r}")
        if checkpoints < 2:
            raise ConfigError(f"bench transfer: picking a checkpoint in {pick_in} needs checkpoints of 2 to "
                              f"{NUM_CHECKPOINTS_TO_KEEP} to pick from, got {checkpoints}")
    hyperparameters = dict(hyperparameters or {})
    check_hyperparameters(hyperparameters)
    out = Path(out_dir)
    models_dir = out / "models"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rl, _ = load_or_compute(Track.load(track))
    plan = [(f"transfer-camera-{stamp}", "default", False, minutes),
            (f"transfer-camera-robust-{stamp}", "default", True, minutes)]
    state_minutes = minutes / 3.0 if state_minutes is None else state_minutes
    if state_minutes > 0:
        plan.append((f"transfer-state-{stamp}", "state", False, state_minutes))
    notes: list[str] = []
    gazebo_ok, why = gazebo_answers(gazebo_master_uri)
    if not gazebo_ok:
        notes.append(f"Gazebo (v5 car) not raced: {why}")
    simulators = [s for s in SIMULATORS if s != "gazebo" or gazebo_ok]
    models, rows, picks = [], [], {}
    for name, preset, robust, mins in plan:
        models.append(_train(name, preset, robust, mins, track, seed, models_dir, console, speed_share, hyperparameters))
        got, pick = race_model(ModelFolder(LocalStorage(models_dir), name), track, trials, simulators,
                               list(range(seed, seed + seeds)), checkpoints, gazebo_master_uri, pick_in, pick_trials,
                               console)
        rows += got
        if pick:
            picks[name] = pick
    result = TransferResult(track, rl.lap_time_s, speed_share, models, rows, notes, out, hyperparameters, picks)
    write_report(result)
    return result


def laps_by_checkpoint(by_checkpoint: list[tuple[int, int, int]]) -> str:
    """"81: 18/20, 82: 20/20" from (checkpoint, laps, trials) tuples."""
    return ", ".join(f"{n}: {laps}/{of}" for n, laps, of in by_checkpoint)


def table_lines(result: TransferResult) -> list[str]:
    """The result as Markdown table lines."""
    lines = ["| model | simulator | checkpoint | laps | mean progress | best lap | mean lap | mean lap / fast "
             "| laps by checkpoint |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result.rows:
        lap = (lambda v: f"{v:.2f} s" if v is not None else "-")
        lines.append(f"| {r.model} | {r.simulator} | {r.checkpoint_choice} | {r.laps}/{r.trials} "
                     f"| {r.mean_progress:.0f}% | {lap(r.best_lap_s)} "
                     f"| {lap(r.mean_lap_s)} | {f'{r.ratio_to_fast:.3f}' if r.ratio_to_fast else '-'} "
                     f"| {laps_by_checkpoint(r.by_checkpoint)} |")
    return lines


def pick_lines(result: TransferResult) -> list[str]:
    """One line per picked model: its selection races and the pick."""
    return [f"- {name}: picked checkpoint {pick_checkpoint(by)} in {sim} at seed {seed} (laps by checkpoint "
            f"{laps_by_checkpoint(by)})" for name, (sim, seed, by) in result.picks.items()]


def write_report(result: TransferResult) -> tuple[Path, Path]:
    """``report.md`` (the models, the table, the notes) and ``curves.png`` into the result's folder."""
    from core.plotting import pyplot
    from simulation.raceline import DEFAULT_ACTIONS

    plt = pyplot()

    result.out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 5))
    for m in result.models:
        pts = [(t, lap) for t, lap, _ in m.curve if lap is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=f"{m.name} ({m.sensor}{', robust' if m.robust else ''})")
    ax.axhline(result.reference_lap_s, color="k", ls="--", lw=1, label=f"reference lap {result.reference_lap_s:.2f} s")
    ax.set_xlabel("wall time [min]")
    ax.set_ylabel("greedy evaluation lap [s]")
    ax.set_title(f"bench transfer on {result.track}: evaluation laps while training")
    ax.legend(fontsize=8)
    png = result.out_dir / "curves.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    lines = [f"# bench transfer on {result.track}", "",
             f"Reference lap (the racing line of the default car): {result.reference_lap_s:.2f} s. The models' "
             f"actions: the line's {DEFAULT_ACTIONS} suggested, at {100 * result.speed_share:.0f}% of its speeds. "
             f"Hyperparameters: each preset's file"
             + (", with " + ", ".join(f"{k} {v}" for k, v in result.hyperparameters.items()) if result.hyperparameters
                else "") + ".", ""]
    for m in result.models:
        lines.append(f"- {m.name}: {m.sensor}, {'robust training' if m.robust else 'no robust training'}, "
                     f"{m.minutes:g} min, {m.iterations} iterations, {m.episodes} episodes")
    lines += ["", *table_lines(result), ""]
    if result.picks:
        lines += ["The checkpoints picked (selection races at a seed no evaluation uses):", "", *pick_lines(result), ""]
    lines += [*[f"- {n}" for n in result.notes], "", "![curves](curves.png)", ""]
    md = result.out_dir / "report.md"
    md.write_text("\n".join(lines))
    return md, png
