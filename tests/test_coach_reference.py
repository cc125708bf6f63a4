"""Our exported rl_coach checkpoint against the DeepRacer simapp's own clipped-PPO network.

tests/fixtures/coach/reference_actions.json holds, per configuration (sensors, neural_network, action space),
what the simapp (deepracer-simapp HEAD: markov's graph manager on bundle/rl_coach, run out of this tree by
scripts/coach_golden.py) reports after restoring the checkpoint that trainer.coach writes for our network
built with a fixed seed (head kernels scaled, see the script): the variables its saver holds (names and
shapes) and its policy output (``main_level/agent/main/online/network_1/ppo_head_0/policy``) on the first
frames of ``trainer.coach.check_frames``. Here the same network is rebuilt and

- ``trainer.coach.coach_variables`` must name exactly the reference's variables, with the same shapes (a
  misnamed or misshaped variable is what the simapp's restore and DeepRacer-on-AWS's model validation reject);
- our frozen graph (trainer.export, as the car and our workers run it) must give the reference's outputs:
  discrete the same argmax on >= 99.9% of the frames and probabilities within 1e-4, continuous means within
  1e-4;
- the graph's input and output tensor names must be the reference's.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from core.config import parse_model_metadata  # noqa: E402
from core.policy import POLICY_OUTPUT, input_tensor_name, tensor  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "coach" / "reference_actions.json"
SAME_ARGMAX = 0.999
PROB_TOLERANCE = 1e-4
MEAN_TOLERANCE = 1e-4


@functools.lru_cache(maxsize=None)
def fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def _config(name: str) -> dict:
    return next(c for c in fixture()["configs"] if c["name"] == name)


@functools.lru_cache(maxsize=None)
def _network(name: str):
    """Our network of configuration ``name``, built as scripts/coach_golden.py builds it."""
    from trainer.networks import build_policy_value

    c = _config(name)
    md = parse_model_metadata(c["metadata"])
    net = build_policy_value(md, seed=c["network_seed"])
    for model, layer in ((net.value_net, "value"), (net.policy_net, "logits" if md.is_discrete else "mean")):
        kernel = model.get_layer(layer).kernel
        kernel.assign(kernel * c["head_kernel_scale"])
    return md, net


NAMES = [c["name"] for c in fixture()["configs"]]
#: The 5-layer network's middleware is 56000 x 512 per tower: freezing and running it takes ~15 s here.
OUTPUT_CASES = [pytest.param(c["name"], marks=pytest.mark.slow)
                if c["metadata"]["neural_network"] == "DEEP_CONVOLUTIONAL_NETWORK" else c["name"]
                for c in fixture()["configs"]]


def test_fixture_covers_the_networks_and_action_spaces():
    configs = fixture()["configs"]
    seen = {(tuple(c["metadata"]["sensor"]), c["metadata"]["neural_network"], c["metadata"]["action_space_type"])
            for c in configs}
    assert (("FRONT_FACING_CAMERA",), "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "discrete") in seen
    assert (("FRONT_FACING_CAMERA",), "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "continuous") in seen
    assert (("FRONT_FACING_CAMERA",), "DEEP_CONVOLUTIONAL_NETWORK", "discrete") in seen
    assert (("STEREO_CAMERAS", "LIDAR"), "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "discrete") in seen
    for c in configs:
        assert len(c["reference_policy"]) == fixture()["stored_frames"]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_variables_are_the_references(name):
    from trainer.coach import coach_variables

    _, net = _network(name)
    ours = {k: list(np.shape(v)) for k, v in coach_variables(net).items()}
    theirs = _config(name)["variables"]
    assert sorted(set(ours) - set(theirs)) == [], "names the simapp's network does not have"
    assert sorted(set(theirs) - set(ours)) == [], "the simapp's variables our checkpoint lacks"
    assert {k: v for k, v in ours.items() if v != theirs[k]} == {}, "shapes differ from the simapp's " + \
        json.dumps({k: theirs[k] for k, v in ours.items() if v != theirs[k]})


@pytest.mark.parametrize("name", NAMES)
def test_graph_tensor_names_are_the_references(name):
    c = _config(name)
    assert fixture()["policy_tensor"] == tensor(POLICY_OUTPUT)
    assert c["input_tensors"] == {s: tensor(input_tensor_name(s)) for s in c["metadata"]["sensor"]}


@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_policy_outputs_match_the_reference(name):
    from trainer.coach import check_frames, read_frozen_graph, run_policy_graph
    from trainer.export import export_frozen_graph

    c = _config(name)
    md, net = _network(name)
    stored = fixture()["stored_frames"]
    frames = {k: v[:stored] for k, v in check_frames(md, fixture()["frames"], seed=c["frames_seed"]).items()}
    ours = run_policy_graph(read_frozen_graph(export_frozen_graph(net), name), frames)
    theirs = np.asarray(c["reference_policy"])
    assert ours.shape == theirs.shape
    if md.is_discrete:
        same = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
        assert same >= SAME_ARGMAX, f"same argmax on only {same:.1%} of the frames"
        assert float(np.max(np.abs(ours - theirs))) < PROB_TOLERANCE
    else:
        assert float(np.max(np.abs(ours - theirs))) < MEAN_TOLERANCE
