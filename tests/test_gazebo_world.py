"""The Gazebo world and car generator (simulation/gazebo/world.py) and the backend's pieces that run
without a Gazebo sim. The real gzserver runs in tests/test_docker_gazebo.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from simulation import car
from simulation.gazebo import world
from simulation.gazebo.client import GazeboClient, GazeboError
from simulation.gazebo.env import GazeboEnv, frame_to_y
from simulation.scenery import walls_rectangle
from simulation.track import Track, available_tracks
from tests.servers import free_ports


def _obj_triangles(text: str) -> np.ndarray:
    verts = np.array([[float(v) for v in ln.split()[1:]] for ln in text.splitlines() if ln.startswith("v ")])
    faces = [[int(p.split("//")[0]) - 1 for p in ln.split()[1:]] for ln in text.splitlines() if ln.startswith("f ")]
    return verts[np.array(faces)]


def _cross(t: np.ndarray) -> np.ndarray:
    """z of (b - a) x (c - a) for triangles (T, 3, >=2)."""
    return (t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1]) - (t[:, 1, 1] - t[:, 0, 1]) * (t[:, 2, 0] - t[:, 0, 0])


def _inside_any(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(P,) bool: each point lies in at least one of the counter-clockwise triangles (T, 3, >=2)."""
    p = points[:, None, :]
    inside = np.ones((len(points), len(tris)), bool)
    for k in range(3):
        a, b = tris[None, :, k, :2], tris[None, :, (k + 1) % 3, :2]
        inside &= (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0]) >= -1e-9
    return inside.any(axis=1)


@pytest.mark.parametrize("name", available_tracks())
def test_every_track_makes_a_world_with_upward_meshes(name):
    track = Track.load(name)
    bundle = world.world_bundle(track, ["FRONT_FACING_CAMERA"])
    msg = json.loads(bundle.message("t"))
    assert msg["names"] == ["racetrack", "racecar"] and msg["cameras"] == 1 and msg["car_key"] == "camera"
    for sdf in msg["models"]:
        ET.fromstring(sdf.split("?>", 1)[1])          # well-formed XML
    tris = _obj_triangles(bundle.files["road.obj"])
    assert len(tris) == 2 * (len(track.waypoints) - 1)
    for fname in ("road.obj", "lines.obj", "center.obj"):
        t = _obj_triangles(bundle.files[fname])
        assert np.all(_cross(t) >= -1e-12), f"{fname}: a face points down (back-face culled)"
    # the road covers the centre line: the middle of every segment lies in a road triangle
    mid = (track.waypoints[:-1] + track.waypoints[1:]) / 2
    assert _inside_any(mid, tris).mean() > 0.98
    walls = "wall_north" in msg["models"][0]
    assert walls == (walls_rectangle(track) is not None)


def test_centre_dashes_follow_the_reference_pattern():
    track = Track.load("reinvent_base")
    q = world.center_dash_quads(track)
    lengths = np.linalg.norm(q[:, 2] - q[:, 1], axis=1)
    widths = np.linalg.norm(q[:, 1] - q[:, 0], axis=1)
    assert np.allclose(widths, 0.0254, atol=1e-6)
    assert np.median(lengths) == pytest.approx(0.0508, abs=1e-3)
    assert len(q) == pytest.approx(track.length_m / 0.1016, abs=2)


def test_the_car_carries_the_v5_facts():
    root = ET.fromstring(world.car_sdf(["FRONT_FACING_CAMERA"]).split("?>", 1)[1])
    masses = [float(m.text) for m in root.iter("mass")]
    assert sum(masses) == pytest.approx(5.0 + 4 * 0.34055 + 2 * 0.1)
    joints = {j.get("name"): j for j in root.iter("joint")}
    assert set(joints) == {f"{s}_{w}" for s in ("left", "right")
                           for w in ("rear_wheel_joint", "front_wheel_joint", "steering_hinge_joint")}
    for j in joints.values():
        assert float(j.find("axis/limit/effort").text) == 10 and float(j.find("axis/limit/velocity").text) == 100
    mu = {float(m.text) for m in root.iter("mu")}
    assert mu == {0.5}
    (sensor,) = root.iter("sensor")
    x, y, z, roll, pitch, yaw = (float(v) for v in sensor.find("pose").text.split())
    assert (x, y, z + world.CHASSIS_Z_M, pitch) == pytest.approx((car.CAMERA_AHEAD_M, 0.0, car.CAMERA_HEIGHT_M,
                                                                  car.CAMERA_PITCH_DOWN_RAD))
    assert float(sensor.find("camera/horizontal_fov").text) == pytest.approx(1.13)
    assert sensor.find("update_rate").text == "15"
    stereo = ET.fromstring(world.car_sdf(["STEREO_CAMERAS"]).split("?>", 1)[1])
    ys = sorted(float(s.find("pose").text.split()[1]) for s in stereo.iter("sensor"))
    assert ys == pytest.approx([-0.03, 0.03])
    assert not list(ET.fromstring(world.car_sdf(["STATE"]).split("?>", 1)[1]).iter("sensor"))


def test_wheels_and_ground_collide_as_trimeshes_like_the_reference():
    bundle = world.world_bundle(Track.load("reinvent_base"), ["FRONT_FACING_CAMERA"])
    car_root = ET.fromstring(bundle.models[1].split("?>", 1)[1])
    uris = [c.find("geometry/mesh/uri").text for c in car_root.iter("collision") if "wheel" in c.find("geometry/mesh/uri").text]
    assert len(uris) == 4                              # the four wheels
    for width, name in world.WHEEL_MESH_FILES.items():
        assert f"file://@WORLD_DIR@/{name}" in uris
        verts = np.array([[float(v) for v in ln.split()[1:]] for ln in bundle.files[name].splitlines()
                          if ln.startswith("v ")])
        rim = verts[np.hypot(verts[:, 0], verts[:, 2]) > 0.03]
        assert len(rim) == 2 * world.WHEEL_SEGMENTS
        assert np.hypot(rim[:, 0], rim[:, 2]) == pytest.approx(0.036, abs=1e-6)
        assert np.ptp(verts[:, 1]) == pytest.approx(width)
        t = _obj_triangles(bundle.files[name])          # closed, every face outward
        n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        assert np.all(np.einsum("ij,ij->i", n, t.mean(axis=1)) > 0)
    # the ground is the track model's field mesh, face up, under the whole track
    track_root = ET.fromstring(bundle.models[0].split("?>", 1)[1])
    assert "file://@WORLD_DIR@/field.obj" in [u.text for u in track_root.iter("uri")]
    field = _obj_triangles(bundle.files["field.obj"])
    assert len(field) == 2 and np.all(_cross(field) > 0) and np.all(field[..., 2] == 0)
    track = Track.load("reinvent_base")
    assert _inside_any(np.concatenate([track.inner_border, track.outer_border]), field).all()


def test_a_lidar_car_carries_the_reference_ray_sensor_and_a_shell_below_its_beams():
    sensors = ["FRONT_FACING_CAMERA", "LIDAR"]
    bundle = world.world_bundle(Track.load("reinvent_base"), sensors)
    msg = json.loads(bundle.message("t"))
    assert msg["lidars"] == 1 and msg["car_key"] == "camera+lidar" and msg["cameras"] == 1
    root = ET.fromstring(bundle.models[1].split("?>", 1)[1])
    (ray,) = [s for s in root.iter("sensor") if s.get("type") == "ray"]
    x, y, z, _, _, yaw = (float(v) for v in ray.find("pose").text.split())
    assert (x, y, z, yaw) == pytest.approx((0.02913, 0.0, 0.16145, 3.1416))       # hokuyo_joint, turned back
    h = ray.find("ray/scan/horizontal")
    assert int(h.find("samples").text) == 64
    assert (float(h.find("min_angle").text), float(h.find("max_angle").text)) == pytest.approx((-2.61799, 2.61799))
    assert (float(ray.find("ray/range/min").text), float(ray.find("ray/range/max").text)) == (0.15, 12.0)
    assert float(ray.find("ray/noise/stddev").text) == 0.01 and ray.find("update_rate").text == "10"
    # the shell collides as meshes (box primitives gave the ray sensor phantom hits), and behind the scanner's
    # blind front nothing of it reaches the beam plane
    uris = [u.text for c in root.iter("collision") for u in c.iter("uri")]
    boxes = world.body_boxes(sensors)
    assert [f"file://@WORLD_DIR@/body_{k}.obj" for k in range(len(boxes))] == [u for u in uris if "body_" in u]
    for (x0, y0, _), (x1, y1, z1) in boxes:
        if z1 < 0.16145:
            continue
        for cx, cy in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):   # corners seen from the scanner
            dx, dy = cx - 0.02913, cy
            assert abs(np.degrees(np.arctan2(dy, dx))) <= 30 or np.hypot(dx, dy) < 0.15
    assert world.car_key(["STATE"]) == "none" and world.car_key(["STEREO_CAMERAS", "LIDAR"]) == "stereo+lidar"
    assert json.loads(world.world_bundle(Track.load("reinvent_base"), ["STATE"]).message("t"))["lidars"] == 0


def test_objects_are_kinematic_boxes_with_fresh_names():
    spec = world.ObjectSpec(0.2, 0.15, 0.25, 100.0)
    bundle = world.world_bundle(Track.load("reinvent_base"), ["FRONT_FACING_CAMERA"], [spec, spec])
    msg = json.loads(bundle.message("t"))
    assert msg["objects"] == bundle.objects == msg["names"][2:] and len(set(msg["objects"])) == 2
    root = ET.fromstring(msg["models"][2].split("?>", 1)[1])
    assert root.find("model").get("name") == msg["objects"][0]
    link = root.find("model/link")
    assert link.find("kinematic").text == "true" and link.find("gravity").text == "false"
    assert [float(v) for v in link.find("collision/geometry/box/size").text.split()] == pytest.approx([0.4, 0.3, 0.25])
    assert float(link.find("pose").text.split()[2]) == pytest.approx(0.125)       # standing on the ground
    # the next world's objects never share a name with this one's (the bridge removes those meanwhile)
    again = world.world_bundle(Track.load("reinvent_base"), ["FRONT_FACING_CAMERA"], [spec, spec])
    assert not set(again.objects) & set(bundle.objects)
    assert world.world_bundle(Track.load("reinvent_base"), ["STATE"]).objects == []


def test_frame_to_y_resizes_and_converts_as_the_reference():
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    rgb[:240] = 0
    y = frame_to_y(rgb)
    assert y.shape == (120, 160) and y.dtype == np.uint8
    assert y[0, 0] == 0 and y[-1, -1] == round(0.2989 * 200 + 0.5870 * 100 + 0.1140 * 50)


def test_no_gazebo_sim_is_one_clear_error():
    (port,) = free_ports(1)
    with pytest.raises(GazeboError, match=f"no Gazebo sim .*127.0.0.1:{port}.*sim-gazebo"):
        GazeboClient(f"http://127.0.0.1:{port}", timeout_s=1.0)


def test_a_bad_master_uri_is_one_clear_error():
    with pytest.raises(GazeboError, match="GAZEBO_MASTER_URI 'http://sim-gazebo:abc' has no valid port"):
        GazeboClient("http://sim-gazebo:abc", timeout_s=1.0)


def test_one_car_per_gazebo_sim():
    with pytest.raises(ValueError, match="one car per Gazebo sim"):
        GazeboEnv("reinvent_base", num_cars=2)
