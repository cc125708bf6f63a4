"""Golden policy outputs of the DeepRacer simapp's own clipped-PPO network holding our exported checkpoint
(fixture of tests/test_coach_reference.py).

For each configuration in CONFIGS this builds OUR network deterministically
(``trainer.networks.build_policy_value(md, seed)``, then the head kernels scaled, see below), writes its
rl_coach variables as a virtual model's checkpoint does (``trainer.coach.coach_variables`` and
``write_tf1_checkpoint`` into ``<tmp>/<config>/agent/1_Step-100.ckpt.*`` plus ``.coach_checkpoint``), and
then, in a child process (rl_coach switches TensorFlow to graph mode for good), runs the reference's own
code path of the model validation worker (``bundle/markov/validation_worker.py``) out of the checkout given on the
command line:

- ``markov.boto.s3.files.model_metadata.ModelMetadata`` parses the model_metadata.json we wrote (its S3
  download is skipped: the file is already local);
- ``markov.agents.training_agent_factory.create_training_agent`` builds the agent (sensors, network settings
  from ``markov.agents.utils.get_network_settings``, the action space from ``load_action_space``);
- ``markov.sagemaker_graph_manager.get_graph_manager`` makes the clipped-PPO agent parameters (embedder and
  middleware schemes from ``markov.architecture.embedder_factory``) and the MultiAgentGraphManager;
- ``graph_manager.create_graph(task_parameters)`` with ``checkpoint_restore_path`` builds the graph
  (bundle/rl_coach, Keras layers under tf.compat.v1) and restores our checkpoint through
  ``MultiAgentGraphManager.restore_checkpoint``: ``.coach_checkpoint`` is read and rl_coach's own
  ``GlobalVariableSaver.restore`` (``rl_coach/architectures/tensorflow_components/savers.py``) assigns the
  values;
- the policy is the tensor the simapp freezes into model.pb
  (``markov.boto.s3.constants.FROZEN_HEAD_OUTPUT_GRAPH_FORMAT_MAPPING``,
  ``main_level/agent/main/online/network_1/ppo_head_0/policy``), fed through the online network's own input
  placeholders, on ``trainer.coach.check_frames(md, FRAMES, frames_seed)``.

The restore is checked, not trusted: the saver's variables must have exactly the checkpoint's names and
shapes, and every one of them must hold, after the restore, bit for bit the value we wrote. (Tried on HEAD:
a variable whose name is missing but which has a same-shape twin in the same scope up to trailing digits,
e.g. Conv2d_1 for Conv2d_2, is restored from the twin without a word; one with no such twin makes the
restore fail, "You must feed a value for placeholder ..._placeholder", as its assign op runs unfed.)

The fixture (``--out``) records the simapp commit and, per configuration: the model_metadata dict, the seeds,
the reference's saved variables (names and shapes: its trainable online variables, what its saver writes),
its policy outputs on the first STORED frames (7 decimals), and the agreement with our runtime (our frozen
graph, ``trainer.export.export_frozen_graph`` run by ``trainer.coach.run_policy_graph``) on all FRAMES
frames, which is also printed: the share of frames with the same argmax action (discrete) and the max
|difference| of the outputs (continuous after clipping to [-1, 1], as the car and the simulator use them).
None of the reference's code is copied here; it is imported from the checkout at run time.

Head kernel scale: freshly initialised networks are near-uniform (logits and continuous means ~0.01 on the
check frames), which would make the comparison weak; multiplying the policy (and value) head kernels by a
per-configuration factor after the seeded build (CONFIGS, recorded in the fixture) gives outputs of order 1,
so argmax and |difference| really test the weights' mapping.

Stand-ins (modules the validation path imports but never uses, and that are not in this project's venv):
``pygame`` / ``pygame.locals`` (rl_coach's renderer), ``skimage.transform`` (two unused rl_coach observation
filters), ``minio`` (rl_coach's S3 data store), and ``tensorflow_probability.distributions``: rl_coach's PPO
head builds its training loss on ``MultivariateNormalDiag`` and ``kl_divergence`` for continuous actions;
the stand-in gives the same formulas in plain TF ops. The policy output does not depend on any of them.

Rerun (about 2.5 minutes on 2 CPU cores; needs no packages beyond this project's .venv):

    git clone https://github.com/aws-deepracer-community/deepracer-simapp /tmp/simapp-src
    # or, from a bare mirror (only bundle/markov and bundle/rl_coach/rl_coach are needed; where `git archive`
    # stops on absent large blobs, write the files of `git ls-tree -r HEAD bundle/markov bundle/rl_coach/rl_coach`
    # one by one with `git cat-file blob`), then pass --commit, as the extracted tree has no git metadata
    .venv/bin/python scripts/coach_golden.py --simapp /tmp/simapp-src \\
        --out tests/fixtures/coach/reference_actions.json [--commit SHA]

Everything is seeded, so a rerun against the same simapp commit rewrites the same fixture (up to the last
decimal of float32 rounding).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Frames per configuration compared with our runtime, and how many of them the fixture stores.
FRAMES = 1000
STORED = 200
#: Decimals of the stored outputs.
DIGITS = 7
#: Name of the checkpoint written (as a virtual model's model/<n>_Step-<m>.ckpt).
CHECKPOINT = "1_Step-100.ckpt"
#: Frames per session.run (keeps the conv activations of the 5-layer network small).
BATCH = 100

_DISCRETE_7 = [{"steering_angle": s, "speed": v, "index": i}
               for i, (s, v) in enumerate([(-30, 1.0), (-20, 1.5), (-10, 2.0), (0, 3.0), (10, 2.0), (20, 1.5),
                                           (30, 1.0)])]
_CONTINUOUS = {"steering_angle": {"low": -30.0, "high": 30.0}, "speed": {"low": 0.5, "high": 3.0}}


def _md(sensors, network, space_type):
    return {"action_space": _DISCRETE_7 if space_type == "discrete" else _CONTINUOUS, "sensor": sensors,
            "neural_network": network, "training_algorithm": "clipped_ppo", "action_space_type": space_type,
            "version": "5"}


#: (name, model_metadata, network seed, frames seed, head kernel scale). The scale puts the policy outputs
#: on the check frames at a spread of about 1 (discrete logits) or 0.5 (continuous means; some clip).
CONFIGS = [
    ("camera_shallow_discrete", _md(["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "discrete"),
     101, 1101, 5000.0),
    ("camera_shallow_continuous", _md(["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "continuous"),
     102, 1102, 3500.0),
    ("camera_standard_discrete", _md(["FRONT_FACING_CAMERA"], "DEEP_CONVOLUTIONAL_NETWORK", "discrete"),
     103, 1103, 15000.0),
    ("stereo_lidar_shallow_discrete", _md(["STEREO_CAMERAS", "LIDAR"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
                                          "discrete"), 104, 1104, 2500.0),
]


# ------------------------------------------------------------------------------------------------ ours
def build_ours(metadata: dict, seed: int, head_kernel_scale: float):
    """Our network for ``metadata`` as the fixture's configurations build it: seeded, then the policy and
    value head kernels multiplied by ``head_kernel_scale``."""
    from core.config import parse_model_metadata
    from trainer.networks import build_policy_value

    md = parse_model_metadata(metadata)
    net = build_policy_value(md, seed=seed)
    heads = [(net.value_net, "value"), (net.policy_net, "logits" if md.is_discrete else "mean")]
    for model, name in heads:
        kernel = model.get_layer(name).kernel
        kernel.assign(kernel * head_kernel_scale)
    return md, net


def run_ours(net, frames: dict[str, np.ndarray]) -> np.ndarray:
    """Our runtime's policy output: the frozen graph trainer.export writes, run by trainer.coach."""
    from trainer import coach
    from trainer.export import export_frozen_graph

    graph = coach.read_frozen_graph(export_frozen_graph(net), "our frozen graph")
    n = len(next(iter(frames.values())))
    return np.concatenate([coach.run_policy_graph(graph, {k: v[i:i + BATCH] for k, v in frames.items()})
                           for i in range(0, n, BATCH)])


def agreement(md_discrete: bool, ref: np.ndarray, ours: np.ndarray) -> dict:
    if md_discrete:
        return {"same_argmax": float(np.mean(ref.argmax(-1) == ours.argmax(-1))),
                "max_abs_prob_diff": float(np.max(np.abs(ref - ours)))}
    return {"max_abs_diff_clipped": float(np.max(np.abs(np.clip(ref, -1, 1) - np.clip(ours, -1, 1)))),
            "max_abs_diff": float(np.max(np.abs(ref - ours)))}


def prepare(folder: Path, name: str, metadata: dict, seed: int, frames_seed: int, scale: float) -> np.ndarray:
    """Write our checkpoint, metadata and frames into ``folder``; return our runtime's outputs."""
    from trainer import coach

    md, net = build_ours(metadata, seed, scale)
    variables = coach.coach_variables(net)
    agent_dir = folder / "agent"
    agent_dir.mkdir(parents=True)
    coach.write_tf1_checkpoint(variables, agent_dir / CHECKPOINT)
    back = coach.read_checkpoint(agent_dir / CHECKPOINT, CHECKPOINT)
    if set(back) != set(variables) or any(not np.array_equal(back[k], variables[k]) for k in variables):
        raise RuntimeError(f"{name}: the checkpoint written does not read back as coach_variables")
    (agent_dir / ".coach_checkpoint").write_text(CHECKPOINT)
    (folder / "model_metadata.json").write_text(json.dumps(metadata))
    frames = coach.check_frames(md, FRAMES, seed=frames_seed)
    # camera frames are whole numbers 0..255: stored as uint8, they go to the reference unchanged
    np.savez(folder / "frames.npz", **{k: v.astype(np.uint8) if v.ndim == 4 else v for k, v in frames.items()})
    for k, v in frames.items():
        if v.ndim == 4 and not np.array_equal(v.astype(np.uint8).astype(np.float32), v):
            raise RuntimeError(f"{name}: {k} frames are not whole numbers 0..255")
    return run_ours(net, frames)


# ------------------------------------------------------------------------------------------------ reference
def _install_stand_ins() -> None:
    """Modules the validation path imports but does not use here (see the module docstring)."""
    import tensorflow as tf

    from stand_ins import stand_in as module   # scripts/ is on sys.path when a script there runs

    module("pygame")
    module("pygame.locals", HWSURFACE=1, DOUBLEBUF=2)
    module("skimage")
    module("skimage.transform", resize=None)
    module("minio", Minio=None)
    module("minio.error", InvalidResponseError=Exception, ResponseError=Exception)

    class MultivariateNormalDiag:
        """N(loc, diag(scale_diag**2)) over the last axis: what rl_coach's PPO head asks of it."""

        def __init__(self, loc, scale_diag=None, **_):
            self.loc, self.scale = loc, scale_diag

        def log_prob(self, x):
            z = (x - self.loc) / self.scale
            k = tf.cast(tf.shape(self.loc)[-1], tf.float32)
            return (-0.5 * tf.reduce_sum(z * z, -1) - tf.reduce_sum(tf.math.log(self.scale), -1)
                    - 0.5 * k * math.log(2 * math.pi))

        def entropy(self):
            k = tf.cast(tf.shape(self.loc)[-1], tf.float32)
            return 0.5 * k * (1.0 + math.log(2 * math.pi)) + tf.reduce_sum(tf.math.log(self.scale), -1)

    def kl_divergence(p, q):
        ratio = p.scale / q.scale
        return tf.reduce_sum(0.5 * (tf.square(ratio) + tf.square((p.loc - q.loc) / q.scale) - 1.0)
                             - tf.math.log(ratio), -1)

    tfp = module("tensorflow_probability")
    tfp.distributions = module("tensorflow_probability.distributions",
                               MultivariateNormalDiag=MultivariateNormalDiag, kl_divergence=kl_divergence)


def reference_worker(folder: Path, checkout: Path) -> None:
    """Child process: build the simapp's network for ``folder``/model_metadata.json, restore
    ``folder``/agent, write ``folder``/reference.npz (policy outputs) and reference.json (variables, checks)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    bundle = checkout / "bundle"
    sys.path[:0] = [str(bundle / "rl_coach"), str(bundle)]      # rl_coach's package dir before bundle/rl_coach
    _install_stand_ins()
    import tensorflow as tf
    from markov.agent_ctrl.constants import ConfigParams
    from markov.agents.training_agent_factory import create_training_agent
    from markov.boto.s3.constants import FROZEN_HEAD_OUTPUT_GRAPH_FORMAT_MAPPING, TrainingAlgorithm
    from markov.boto.s3.files.model_metadata import ModelMetadata
    from markov.sagemaker_graph_manager import get_graph_manager
    from rl_coach.base_parameters import TaskParameters

    model_metadata = ModelMetadata(bucket="local", s3_key="model/model_metadata.json",
                                   local_path=str(folder / "model_metadata.json"))
    model_metadata._download = lambda: None          # the file is already local
    # the agent config of validation_worker.validate
    agent_config = {"model_metadata": model_metadata,
                    ConfigParams.CAR_CTRL_CONFIG.value: {ConfigParams.LINK_NAME_LIST.value: [],
                                                         ConfigParams.VELOCITY_LIST.value: {},
                                                         ConfigParams.STEERING_LIST.value: {},
                                                         ConfigParams.CHANGE_START.value: None,
                                                         ConfigParams.ALT_DIR.value: None,
                                                         ConfigParams.MODEL_METADATA.value: model_metadata,
                                                         ConfigParams.REWARD.value: None,
                                                         ConfigParams.AGENT_NAME.value: "racecar"}}
    graph_manager, _ = get_graph_manager(hp_dict={}, agent_list=[create_training_agent(agent_config)],
                                         run_phase_subject=None)
    task_parameters = TaskParameters()
    task_parameters.checkpoint_restore_path = str(folder)
    graph_manager.create_graph(task_parameters)       # builds the graph and restores folder/agent
    sess = graph_manager.sess["agent"]

    # what the restore did: the saver's variables against the checkpoint, values bit for bit
    savers = list(graph_manager.checkpoint_saver["agent"])
    variables = [v for s in savers for v in s._variables]
    names = {v.name.split(":")[0]: v for v in variables}
    reader = tf.compat.v1.train.load_checkpoint(str(folder / "agent" / CHECKPOINT))
    ckpt_shapes = reader.get_variable_to_shape_map()
    values = sess.run(variables)
    not_restored = [n for (n, v), value in zip(names.items(), values)
                    if n in ckpt_shapes and not np.array_equal(np.asarray(value), reader.get_tensor(n))]
    checks = {
        "missing_in_checkpoint": sorted(set(names) - set(ckpt_shapes)),
        "extra_in_checkpoint": sorted(set(ckpt_shapes) - set(names)),
        "shape_mismatch": sorted(n for n, v in names.items() if n in ckpt_shapes
                                 and list(v.get_shape().as_list()) != list(ckpt_shapes[n])),
        "not_restored": sorted(not_restored),
    }
    saved = {n: list(v.get_shape().as_list()) for n, v in sorted(names.items())}

    agent = graph_manager.level_managers[0].agents["agent"]
    network = agent.networks["main"].online_network
    graph = sess.graph
    policy = graph.get_tensor_by_name(
        FROZEN_HEAD_OUTPUT_GRAPH_FORMAT_MAPPING[TrainingAlgorithm.CLIPPED_PPO.value].format("agent") + ":0")
    frames = dict(np.load(folder / "frames.npz"))
    n = len(next(iter(frames.values())))
    outputs = []
    for i in range(0, n, BATCH):
        feed = {network.inputs[k]: v[i:i + BATCH].astype(np.float32) for k, v in frames.items()}
        outputs.append(sess.run(policy, feed))
    np.savez(folder / "reference.npz", policy=np.concatenate(outputs))
    inputs = {k: network.inputs[k].name for k in frames}
    (folder / "reference.json").write_text(json.dumps({"variables": saved, "restore_checks": checks,
                                                       "policy_tensor": policy.name, "input_tensors": inputs}))


def _simapp_label(checkout: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"unknown (checkout {checkout} has no git metadata; pass --commit)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simapp", type=Path, required=True, help="a deepracer-simapp checkout (holding bundle/)")
    ap.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/coach/reference_actions.json")
    ap.add_argument("--commit", help="the simapp commit to record (default: git rev-parse HEAD of the checkout)")
    ap.add_argument("--only", action="append", help="run only this configuration (repeatable; for trying out)")
    ap.add_argument("--reference-worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    checkout = args.simapp.resolve()
    if args.reference_worker:
        reference_worker(args.reference_worker, checkout)
        return 0
    if not (checkout / "bundle/markov").is_dir() or not (checkout / "bundle/rl_coach/rl_coach").is_dir():
        ap.error(f"{checkout} holds no bundle/markov and bundle/rl_coach/rl_coach")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    commit = args.commit or _simapp_label(checkout)
    fixture = {
        "source": f"deepracer-simapp {commit}: markov.sagemaker_graph_manager.get_graph_manager + "
                  "MultiAgentGraphManager.create_graph/restore_checkpoint (rl_coach GlobalVariableSaver), "
                  "run by scripts/coach_golden.py",
        "simapp_commit": commit,
        "frames": FRAMES,
        "stored_frames": STORED,
        "policy_tensor": None,
        "configs": [],
    }
    failures = []
    with tempfile.TemporaryDirectory(prefix="coach-golden-") as tmp:
        for name, metadata, seed, frames_seed, scale in CONFIGS:
            if args.only and name not in args.only:
                continue
            t0 = time.time()
            folder = Path(tmp) / name
            ours = prepare(folder, name, metadata, seed, frames_seed, scale)
            child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--simapp", str(checkout),
                                    "--reference-worker", str(folder)], capture_output=True, text=True)
            if child.returncode != 0:
                sys.stderr.write(child.stdout[-4000:] + child.stderr[-8000:])
                raise RuntimeError(f"{name}: the reference worker failed (exit {child.returncode})")
            ref = np.load(folder / "reference.npz")["policy"]
            info = json.loads((folder / "reference.json").read_text())
            discrete = metadata["action_space_type"] == "discrete"
            agree = agreement(discrete, ref, ours)
            checks = info["restore_checks"]
            bad = {k: v for k, v in checks.items() if v}
            print(f"{name}: {len(info['variables'])} variables restored"
                  f"{' EXACTLY' if not bad else ' WITH PROBLEMS ' + json.dumps(bad)}; "
                  + ", ".join(f"{k} {v:.6g}" for k, v in agree.items())
                  + f" over {len(ref)} frames ({time.time() - t0:.0f} s)", flush=True)
            if bad:
                failures.append(f"{name}: restore {bad}")
            fixture["policy_tensor"] = info["policy_tensor"]
            fixture["configs"].append({
                "name": name,
                "metadata": metadata,
                "network_seed": seed,
                "frames_seed": frames_seed,
                "head_kernel_scale": scale,
                "input_tensors": info["input_tensors"],
                "variables": info["variables"],
                "agreement_with_ours": agree,
                "reference_policy": np.round(ref[:STORED].astype(np.float64), DIGITS).tolist(),
            })
    if failures:
        print("NOT written: the reference did not restore our checkpoint exactly:\n  " + "\n  ".join(failures))
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
