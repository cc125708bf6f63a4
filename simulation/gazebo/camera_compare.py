"""The same poses seen by the Gazebo sim's camera and by the fast simulator's renderer, side by side.

    python -m simulation.gazebo.camera_compare --master http://sim-gazebo:11311 --out docs/gazebo-camera.png
    python -m simulation.gazebo.camera_compare --stereo      # a stereo car (a fresh Gazebo sim): both eyes

For each pose (the car on reinvent_base's centre line at a few distances, and one off to a side) the
Gazebo frame (640x480, reduced to the network's 160x120 Y image as the reference does) and the fast
renderer's frame at the pose Gazebo reports, with their absolute difference. Printed per pose and overall:
the mean absolute difference [gray levels, 0-255], the same after matching each frame's mean and spread
(what geometry and layout alone leave), and the mean gray of the lower half (mostly road) and of the top
quarter (walls, field, sky) in each. With --stereo, per pose and eye the same difference figures, and
the difference between the left and right frames (what the two lenses 6 cm apart add) compared between
the simulators. The Gazebo world is ours (simulation/gazebo/world.py: flat materials
of the reference textures' mean grays under the reference worlds' lights), not the reference's meshes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

#: Where the car stands [m along the centre line], and how far to its left [m], for the comparison.
POSES_M = ((0.5, 0.0), (3.0, 0.0), (6.0, 0.0), (9.5, 0.0), (13.0, 0.2), (16.0, -0.25))


def _mad(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean absolute difference of two frames [gray levels], and the same after matching each frame's mean
    and spread to the second's."""
    a, b = a.astype(float), b.astype(float)
    norm = lambda v: (v - v.mean()) / max(v.std(), 1e-6)  # noqa: E731
    return round(float(np.abs(a - b).mean()), 1), round(float(np.abs(norm(a) - norm(b)).mean() * b.std()), 1)


def compare_stereo(master_uri: str, track_name: str = "reinvent_base") -> list[dict]:
    """Stereo: per pose, each eye's difference figures and the left-right difference's, Gazebo against fast."""
    from ..sensors import CameraRenderer, render_stereo
    from ..track import Track
    from .client import GazeboClient
    from .env import frame_to_y
    from .world import world_bundle

    track = Track.load(track_name)
    client = GazeboClient(master_uri)
    client.load_world(world_bundle(track, ["STEREO_CAMERAS"]).message("camera-compare-stereo"), "camera-compare-stereo")
    renderer = CameraRenderer(track)
    rows = []
    for arc, left in POSES_M:
        x, y, yaw = track.pose_at(arc, left)
        step = client.set_pose(float(x), float(y), float(yaw))
        g = step.state
        gz = [frame_to_y(f).astype(int) for f in step.frames[:2]]
        fast = render_stereo(renderer, np.array([g["x"]]), np.array([g["y"]]), np.array([g["yaw"]]))[0].astype(int)
        row = {"arc_m": arc, "left_m": left}
        for eye, k in (("left", 0), ("right", 1)):
            row[f"mad_{eye}"], row[f"mad_matched_{eye}"] = _mad(gz[k], fast[..., k])
        dg, df = gz[0] - gz[1], fast[..., 0] - fast[..., 1]
        row["lr_diff_gazebo"] = round(float(np.abs(dg).mean()), 1)
        row["lr_diff_fast"] = round(float(np.abs(df).mean()), 1)
        rows.append(row)
    return rows


def compare(master_uri: str, track_name: str = "reinvent_base") -> tuple[list[dict], list[tuple[np.ndarray, np.ndarray]]]:
    from ..sensors import CameraRenderer
    from ..track import Track
    from .client import GazeboClient
    from .env import frame_to_y
    from .world import world_bundle

    track = Track.load(track_name)
    client = GazeboClient(master_uri)
    client.load_world(world_bundle(track, ["FRONT_FACING_CAMERA"]).message("camera-compare"), "camera-compare")
    renderer = CameraRenderer(track)
    rows, pairs = [], []
    for arc, left in POSES_M:
        x, y, yaw = track.pose_at(arc, left)
        step = client.set_pose(float(x), float(y), float(yaw))
        g = step.state
        gz = frame_to_y(step.frames[0])
        fast = renderer.render(np.array([g["x"]]), np.array([g["y"]]), np.array([g["yaw"]]))[0]
        a, b = gz.astype(float), fast.astype(float)
        norm = lambda v: (v - v.mean()) / max(v.std(), 1e-6)  # noqa: E731
        rows.append({"arc_m": arc, "left_m": left, "mad": round(float(np.abs(a - b).mean()), 1),
                     "mad_matched": round(float(np.abs(norm(a) - norm(b)).mean() * b.std()), 1),
                     "road_gazebo": round(float(a[60:].mean()), 1), "road_fast": round(float(b[60:].mean()), 1),
                     "top_gazebo": round(float(a[:30].mean()), 1), "top_fast": round(float(b[:30].mean()), 1)})
        pairs.append((gz, fast))
    return rows, pairs


def write_png(pairs, rows, out: str) -> None:
    from core.plotting import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(len(pairs), 3, figsize=(9.6, 2.5 * len(pairs)))
    for i, ((gz, fast), row) in enumerate(zip(pairs, rows)):
        diff = np.abs(gz.astype(int) - fast.astype(int)).astype(np.uint8)
        for ax, img, title in zip(axes[i], (gz, fast, diff),
                                  (f"Gazebo, {row['arc_m']} m, {row['left_m']:+} m", "fast simulator",
                                   f"|difference|, mean {row['mad']}")):
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from .env import DEFAULT_MASTER_URI, MASTER_URI_ENV

    ap = argparse.ArgumentParser(prog="python -m simulation.gazebo.camera_compare", description=__doc__.split("\n")[0])
    ap.add_argument("--master", default=os.environ.get(MASTER_URI_ENV, DEFAULT_MASTER_URI))
    ap.add_argument("--track", default="reinvent_base")
    ap.add_argument("--out", default="gazebo-camera.png")
    ap.add_argument("--stereo", action="store_true", help="a stereo car, both eyes (numbers only; a fresh Gazebo sim)")
    args = ap.parse_args(argv)
    if args.stereo:
        rows = compare_stereo(args.master, args.track)
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({k: round(float(np.mean([r[k] for r in rows])), 1)
                          for k in ("mad_matched_left", "mad_matched_right", "lr_diff_gazebo", "lr_diff_fast")}))
        return 0
    rows, pairs = compare(args.master, args.track)
    write_png(pairs, rows, args.out)
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({"mean_mad": round(float(np.mean([r["mad"] for r in rows])), 1),
                      "mean_mad_matched": round(float(np.mean([r["mad_matched"] for r in rows])), 1),
                      "png": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
