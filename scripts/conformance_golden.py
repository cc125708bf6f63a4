"""Golden reward params from the DeepRacer simapp's own geometry code (fixtures of tests/test_conformance.py).

Runs the reference simulator's ``markov`` package (aws-deepracer-community/deepracer-simapp, ``bundle/``)
out of this project's tree, on random car poses, and writes what it reports to
``tests/fixtures/conformance/<track>[_reversed].json``: the inputs (chassis-centre pose, start position,
previous progress) and the reward params the reference computes from them. The numbers are facts about
the reference; none of its code is copied here, it is imported from the checkout given on the command line.

What runs is the reference's own code path of a reward call (simapp v6):
- ``markov.track_geom.track_data.TrackData`` loads the route file (``_sanitize_waypoints``, loop test,
  shapely LinearRing centre line and borders, road polygon, direction) and ``reverse_dir`` drives it the
  other way;
- ``markov.track_geom.utils.euler_to_quaternion`` and ``markov.agent_ctrl.utils.get_relative_pos`` place
  the reward reference point ``RELATIVE_POSITION_OF_FRONT_OF_CAR`` ahead of the chassis centre, as
  ``RolloutCtrl.update_agent`` does;
- ``markov.agent_ctrl.utils.set_reward_and_metrics`` fills the params (x, y, heading, distance_from_center,
  projection_distance, progress via compute_current_prog, closest_waypoints, is_left_of_center,
  track_width, track_length, waypoints, all_wheels_on_track, is_reversed);
- ``markov.reset.rules.off_track_reset_rule.OffTrackResetRule`` decides is_offtrack, as judge_action
  reports it.
The wheel points are the four wheel links, whose positions Gazebo reports; here they are the links'
origins in the car URDF (``bundle/urdf/deepracer/deepracer_single_cam.urdf``: rear wheel joints at
(-0.081663, +-0.08105), front steering hinges at (0.082311, +-0.079601) from the chassis centre, the
front wheel joints at the hinge origins, so steering does not move them).

ROS, Gazebo, boto and rl_coach are not needed: the few modules that import them (ament_index_python,
geometry_msgs, markov.world_config, markov.utils, markov.cameras.frustum_manager,
markov.multi_agent_coach.action_space_configs) are replaced by small stand-ins before the import.

Rerun (with the simapp's pinned numpy 1.26.4, scipy 1.13.1, shapely 2.0.2, in a venv of its own):

    git clone https://github.com/aws-deepracer-community/deepracer-simapp /tmp/simapp   # or git archive bundle/markov
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install numpy==1.26.4 scipy==1.13.1 shapely==2.0.2
    /tmp/refvenv/bin/python scripts/conformance_golden.py /tmp/simapp --tracks "$DEEPRACER_TRACKS"

The poses are seeded per track, so a rerun against the same simapp and track files rewrites the same
fixtures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

#: (track name, reversed) of every fixture: the tracks of issue 10, Spain_track (a clockwise file)
#: both ways, and reinvent_base reversed.
RUNS = [("reinvent_base", False), ("reinvent_base", True), ("reInvent2019_track", False), ("Spain_track", False),
        ("Spain_track", True), ("Tokyo_Training_track", False), ("AWS_track", False), ("China_track", False)]
#: Poses per fixture.
POSES = 300
#: Fraction of poses put beyond the border (1.1 to 2 half widths from the centre line).
OUTSIDE_FRACTION = 0.05
#: Fraction of poses that are the first reward call of an episode (previous progress 0).
FIRST_CALL_FRACTION = 0.25
#: Lateral offset of the on-track poses: up to this fraction of the half track width.
LATERAL_FRACTION = 0.6
#: Heading noise around the track direction [deg].
HEADING_SIGMA_DEG = 20.0
#: Wheel link origins in the chassis frame [m] (car URDF, see the module docstring), in the order of the
#: simapp's LINK_NAMES: left rear, left front, right rear, right front.
WHEEL_LINKS_M = [(-0.081663, 0.08105), (0.082311, 0.079601), (-0.081663, -0.08105), (0.082311, -0.079601)]
#: Decimals of the stored params (0.1 micrometre, far below the tests' 1 cm).
DIGITS = 7
#: The params every fixture records per pose.
POSE_KEYS = ("x", "y", "heading", "distance_from_center", "projection_distance", "progress", "track_width",
             "closest_waypoints", "is_left_of_center", "all_wheels_on_track", "is_offtrack")


#: What the stand-ins report: WorldConfig's params and the package folder holding routes/<name>.npy.
_WORLD: dict = {}


def _install_stand_ins() -> None:
    """Replace the simapp modules that need ROS, Gazebo, boto or rl_coach with the little they provide here."""
    if "markov.world_config" in sys.modules:
        return
    world = _WORLD

    from stand_ins import stand_in as module   # scripts/ is on sys.path when a script there runs

    module("ament_index_python")
    module("ament_index_python.packages", get_package_share_directory=lambda package: world["_share"])

    class _Xyz:
        def __init__(self):
            self.x = self.y = self.z = 0.0

    class _Quat(_Xyz):
        def __init__(self):
            super().__init__()
            self.w = 1.0

    class Pose:
        def __init__(self):
            self.position, self.orientation = _Xyz(), _Quat()

    module("geometry_msgs")
    module("geometry_msgs.msg", Pose=Pose)

    class WorldConfig:
        @staticmethod
        def get_param(name, default=None):
            return world.get(name, default)

    module("markov.world_config", WorldConfig=WorldConfig)
    module("markov.utils", str2bool=lambda v: v if isinstance(v, bool) else str(v).lower() in ("yes", "true", "t", "1"))

    class FrustumManager:  # only reached when the race has objects; these runs have none
        @staticmethod
        def get_instance():
            raise RuntimeError("no camera frustums in the conformance runs")

    module("markov.cameras.frustum_manager", FrustumManager=FrustumManager)
    module("markov.multi_agent_coach.action_space_configs", ClippedPPOActionSpaceConfig=object,
           SACActionSpaceConfig=object)


def _simapp_label(checkout: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True)
        return f"deepracer-simapp {out.stdout.strip()}"
    except (OSError, subprocess.CalledProcessError):
        return f"deepracer-simapp checkout {checkout.name} (no git metadata)"


def _poses(td, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random chassis-centre poses around the reference's own centre line (in its driving direction)."""
    from shapely.geometry import Point

    line = td.center_line
    length = line.length
    s = rng.uniform(0.0, length, n)
    near_start = rng.random(n) < 0.05             # a few across the start line, where arcs wrap
    s[near_start] = np.mod(rng.uniform(-0.3, 0.3, near_start.sum()), length)
    x, y, yaw = (np.empty(n) for _ in range(3))
    outside = rng.random(n) < OUTSIDE_FRACTION
    u = rng.uniform(-1.0, 1.0, n) * LATERAL_FRACTION
    u[outside] = np.sign(rng.uniform(-1, 1, outside.sum())) * rng.uniform(1.1, 2.0, outside.sum())
    for i in range(n):
        def at(d):
            p = line.interpolate(d % length if td.is_loop else min(max(d, 0.0), length))
            return np.array([p.x, p.y])
        c = at(s[i])
        tangent = at(s[i] + 0.01) - at(s[i] - 0.01)
        direction = math.atan2(tangent[1], tangent[0])
        near = td.get_nearest_points(Point(c))
        half_width = near["near_pnt_in"].distance(near["near_pnt_out"]) / 2.0
        normal = np.array([-math.sin(direction), math.cos(direction)])
        p = c + u[i] * half_width * normal
        x[i], y[i] = p
        yaw[i] = math.remainder(direction + math.radians(rng.normal(0.0, HEADING_SIGMA_DEG)), 2 * math.pi)
    # Inputs are stored to the micrometre (and microradian); the reference runs on the stored values.
    return {"x": np.round(x, 6), "y": np.round(y, 6), "yaw": np.round(yaw, 6), "arc": s}


def run_track(name: str, reverse: bool, tracks: Path, checkout: Path, label: str, out: Path, n: int = POSES) -> Path:
    from shapely.geometry import Point

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "routes").mkdir()
        (root / "routes" / f"{name}.npy").symlink_to((tracks / f"{name}.npy").resolve())
        _WORLD.clear()
        _WORLD.update({"WORLD_NAME": name, "REVERSE_DIR": reverse, "_share": str(root)})
        _install_stand_ins()
        bundle = str(checkout / "bundle")
        if bundle not in sys.path:
            sys.path.insert(0, bundle)
        from markov.agent_ctrl import constants as const
        from markov.agent_ctrl.utils import get_relative_pos, set_reward_and_metrics
        from markov.metrics.constants import StepMetrics
        from markov.reset.constants import AgentCtrlStatus
        from markov.reset.rules.off_track_reset_rule import OffTrackResetRule
        from markov.track_geom.constants import AgentPos
        from markov.track_geom.track_data import TrackData
        from markov.track_geom.utils import euler_to_quaternion

        TrackData._instance_ = None
        td = TrackData.get_instance()
        off_rule = OffTrackResetRule()
    rng = np.random.default_rng(zlib.crc32(f"{name}{'_reversed' if reverse else ''}".encode()))
    poses = _poses(td, rng, n)
    length = td.get_track_length()
    start_ndist = np.round(rng.uniform(0.0, 1.0, n), 9)
    # The previous step's progress: 0 on an episode's first reward call, else the progress of a car that
    # drove forward from its start to about 5 cm short of this pose (reference point 0.14 m ahead).
    driven = np.mod(poses["arc"] - start_ndist * length, length)
    prev = np.clip((driven + 0.14 - 0.05) / length * 100.0, 0.0, 100.0)
    prev[rng.random(n) < FIRST_CALL_FRACTION] = 0.0
    prev = np.round(prev, 6)
    expected: dict[str, list] = {k: [] for k in POSE_KEYS}
    waypoints = None
    for i in range(n):
        x, y, yaw = (float(poses[k][i]) for k in ("x", "y", "yaw"))
        rotation = np.array(euler_to_quaternion(yaw=yaw))
        model_point = Point(get_relative_pos(np.array([x, y, 0.0]), const.RELATIVE_POSITION_OF_FRONT_OF_CAR, rotation))
        c, s = math.cos(yaw), math.sin(yaw)
        links = [Point(x + c * lx - s * ly, y + s * lx + c * ly) for lx, ly in WHEEL_LINKS_M]
        pos_dict = {AgentPos.ORIENTATION.value: rotation, AgentPos.LINK_POINTS.value: links,
                    AgentPos.POINT.value: model_point}
        params = const.RewardParam.make_default_param()
        metrics = StepMetrics.make_default_metric()
        data = {"max_progress": 0.0, "current_progress": 0.0, "prev_progress": float(prev[i]), "steps": 2.0,
                "start_ndist": float(start_ndist[i]), "prev_car_pose": 0.0}
        set_reward_and_metrics(params, metrics, "racecar", pos_dict, td, data, 0,
                               {"steering_angle": 0.0, "speed": 1.0}, None)
        off_rule.update({AgentCtrlStatus.POS_DICT.value: pos_dict})
        params["is_offtrack"] = off_rule.done
        for k in POSE_KEYS:
            v = params[k]
            expected[k].append([int(j) for j in v] if k == "closest_waypoints" else
                               bool(v) if isinstance(v, (bool, np.bool_)) else round(float(v), DIGITS))
        if waypoints is None:
            waypoints = [[float(a), float(b)] for a, b in params["waypoints"]]
            track_length, is_reversed = float(params["track_length"]), bool(params["is_reversed"])
    track_file = tracks / f"{name}.npy"
    fixture = {
        "track": name,
        "reversed": reverse,
        "track_file_sha256": hashlib.sha256(track_file.read_bytes()).hexdigest(),
        "source": f"{label}: markov.agent_ctrl.utils.set_reward_and_metrics and OffTrackResetRule on "
                  f"markov.track_geom.track_data.TrackData, run by scripts/conformance_golden.py",
        "wheel_links_m": WHEEL_LINKS_M,
        "track_length": track_length,
        "is_reversed": is_reversed,
        # the reference's waypoints list (driving order), as a digest of its little-endian float64 (N, 2) array
        "waypoints_count": len(waypoints),
        "waypoints_sha256": hashlib.sha256(np.asarray(waypoints, dtype="<f8").tobytes()).hexdigest(),
        "inputs": {"x": poses["x"].tolist(), "y": poses["y"].tolist(), "yaw": poses["yaw"].tolist(),
                   "start_ndist": start_ndist.tolist(), "prev_progress": prev.tolist()},
        "expected": expected,
    }
    path = out / f"{name}{'_reversed' if reverse else ''}.json"
    path.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("simapp", type=Path, help="a deepracer-simapp checkout (holding bundle/markov)")
    ap.add_argument("--tracks", type=Path, required=True, help="folder of the track route files (<name>.npy)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/conformance")
    ap.add_argument("--poses", type=int, default=POSES, help="poses per track and direction")
    ap.add_argument("--label", help="how the fixtures name the reference (default: the checkout's git commit)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    label = args.label or _simapp_label(args.simapp)
    for name, reverse in RUNS:
        print(run_track(name, reverse, args.tracks, args.simapp.resolve(), label, args.out, args.poses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
