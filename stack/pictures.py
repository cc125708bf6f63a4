"""Pictures people look at: the track from above (start line, direction) and the car's camera view."""

from __future__ import annotations

from pathlib import Path

from core.plotting import pyplot

plt = pyplot()
import numpy as np  # noqa: E402

from simulation import car, sensors  # noqa: E402
from simulation.obstacles import Obstacles  # noqa: E402
from simulation.track import Track  # noqa: E402


def draw_track(ax, track: Track, obstacles: Obstacles | None = None, car_pose=None) -> None:
    """Top-down drawing: surface, borders, dashed centre line, start line, driving direction."""
    quads = np.stack([track.left_border[:-1], track.right_border[:-1], track.right_border[1:],
                      track.left_border[1:]], axis=1)
    for q in quads:
        ax.fill(q[:, 0], q[:, 1], color="#3a3a3a", linewidth=0.3, edgecolor="#3a3a3a")
    ax.plot(*track.left_border.T, color="white", lw=1.2)
    ax.plot(*track.right_border.T, color="white", lw=1.2)
    ax.plot(*track.waypoints.T, color="#f2c40f", lw=0.8, ls=(0, (4, 4)))
    lb, rb = track.left_border[0], track.right_border[0]
    ax.plot([lb[0], rb[0]], [lb[1], rb[1]], color="#e03030", lw=3, label="start / finish")
    # direction arrows every ~10% of the lap
    for frac in np.linspace(0.0, 0.9, 10):
        x, y, yaw = track.pose_at(frac * track.length_m)
        ax.annotate("", xy=(x + 0.35 * np.cos(yaw), y + 0.35 * np.sin(yaw)), xytext=(x, y),
                    arrowprops=dict(arrowstyle="->", color="#30a0ff", lw=1.5))
    if obstacles is not None:
        corners = obstacles.corners()[0]
        for c, on in zip(corners, obstacles.active[0]):
            if on:
                ax.fill(c[:, 0], c[:, 1], color="#ff8c00")
    if car_pose is not None:
        x, y, yaw = car_pose
        body = car.to_world(np.array([x]), np.array([y]), np.array([yaw]), car.BODY_CORNERS_M)[0]
        ax.fill(body[:, 0], body[:, 1], color="#30a0ff")
    ax.set_aspect("equal")
    ax.set_facecolor("#5d8a46")
    info = track.info()
    ax.set_title(f"{track.name}{' (reversed)' if track.reversed else ''}: {info.length_m:.2f} m, "
                 f"width {info.mean_width_m:.2f} m, {info.direction}")
    ax.legend(loc="upper right", fontsize=8)


def render_track_picture(track: Track, out: str | Path, camera_arc_m: float = 1.0,
                         obstacles: Obstacles | None = None) -> Path:
    """Write a PNG: the track from above (left) and the camera frame of a car at ``camera_arc_m`` (right)."""
    pose = track.pose_at(camera_arc_m)
    renderer = sensors.CameraRenderer(track)
    frame = renderer.render(np.array([pose[0]]), np.array([pose[1]]), np.array([pose[2]]), obstacles)[0]
    fig, (ax_top, ax_cam) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1.6, 1]})
    draw_track(ax_top, track, obstacles, car_pose=pose)
    ax_cam.imshow(frame, cmap="gray", vmin=0, vmax=255)
    ax_cam.set_title(f"camera view (160x120 grayscale) at {camera_arc_m:.1f} m")
    ax_cam.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
