"""A Gazebo world for any track file, and the car, as SDF text plus OBJ meshes.

The bridge plugin (images/gazebo/bridge) receives these over ROS, writes the meshes into a folder of its
own (``@WORLD_DIR@`` in the SDF) and inserts the models, so the Gazebo image needs neither track files
nor Python packages of ours. Every geometric fact comes from its one home:

- the road, its white border lines (LINE_WIDTH_M, inside the road edge), the dashed centre line
  (CENTER_* figures), the walls (``walls_rectangle``, WALL_HEIGHT_M) and the material grays
  (``PALETTES``): simulation/scenery.py, read from the reference's meshes and textures;
- the car: docs/gazebo-v5-facts.md section 1 (simapp v5.3.3b URDF and racecar.gazebo): link masses and
  inertias, joint origins and limits, wheel friction 0.5 with kp 1e6 / kd 1, the camera at its reference
  pose. The reference's collision shapes are STL meshes, not copied: our wheels are meshes we make from
  the facts of theirs (a 38-sided prism of radius 0.036 m, ``tyre_obj``), the body shell is its
  bounding box (two boxes on a lidar car), as meshes too (``body_boxes``). The ground is a trimesh too, as in the reference, whose track models collide through a
  field mesh of two triangles: the car's contacts are trimesh against trimesh, as there (cylinders on a
  plane corner differently: docs/gazebo.md, calibration).

Materials are gray (ambient = diffuse = the texture's mean gray, no specular): the fast simulator's
camera sees gray too, and the network sees only Y. Objects (boxes, bot cars: ``object_sdf``) are
kinematic boxes of the fast simulator's sizes and grays (simulation/obstacles.py, scenery.BOX_GRAY /
BOT_GRAY) that the worker places every step (the bridge's command carries their poses); the car runs
into them as into a wall.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import dataclass, field

import numpy as np

from core.config import LIDAR_SENSORS

from .. import car, lidar
from ..obstacles import KIND_BOT
from ..scenery import (CENTER_DASH_M, CENTER_DASH_START_M, CENTER_GAP_M, CENTER_WIDTH_M, LINE_WIDTH_M,
                       PALETTES, WALL_HEIGHT_M, palette_name, walls_rectangle)
from ..track import Track

TRACK_MODEL = "racetrack"
CAR_MODEL = "racecar"
#: Heights of the flat visuals above the ground [m] (the reference's split-link worlds: road +0.001,
#: lines +0.002); the car drives on the track model's field collision mesh at z = 0.
ROAD_Z_M = 0.001
LINE_Z_M = 0.002
WALL_THICKNESS_M = 0.1
#: Field visual beyond the walls (or around the track where there are none) [m].
FIELD_MARGIN_M = 20.0

# ---------------------------------------------------------------------- car facts (docs/gazebo-v5-facts.md 1)
CHASSIS_Z_M = 0.023249                       # base_link_joint
CHASSIS_MASS_KG = 5.0
CHASSIS_INERTIA = (0.010609, 0.050409, 0.05865)
WHEEL_MASS_KG = 0.34055
WHEEL_INERTIA = (0.00026046, 0.00041226, 0.00026046)
HINGE_MASS_KG = 0.1
HINGE_INERTIA = (4e-6, 4e-6, 4e-6)
#: Wheel collision radius [m] and widths (rear, front) [m]: the wheel STL meshes' bounding boxes; those
#: meshes are prisms of WHEEL_SEGMENTS flat faces (read from the STLs: 38 outer vertices 9.47 deg apart).
WHEEL_RADIUS_M = 0.036
WHEEL_WIDTH_M = (0.034, 0.035)
WHEEL_SEGMENTS = 38
WHEEL_MU = 0.5
WHEEL_KP, WHEEL_KD = 1e6, 1.0
JOINT_EFFORT_NM = 10.0
JOINT_VELOCITY_RAD_S = 100.0
#: joint origins in the chassis frame: rear wheels, steering hinges (the front wheels sit on the hinges)
REAR_WHEEL_XYZ = (-0.081663, 0.08105, 0.01575)
HINGE_XYZ = (0.082311, 0.079601, 0.011759)
FRONT_TOE_RAD = {"left": 0.0022537, "right": 0.0065592}
#: the body shell's collision box in the chassis frame: x -0.158..0.166, y +-0.094, z 0.0006..0.195 [m]
BODY_BOX_M = ((-0.158, -0.094, 0.0006 + 2e-5), (0.166, 0.094, 0.195 + 2e-5))
#: A lidar car's shell (car_body_link_lidar_v3.STL, cut at heights by us) as two boxes in the chassis
#: frame: below 0.15 m it spans the body's footprint; above, only its raised front (x 0.067..0.166,
#: y +-0.05) reaches the beam plane (0.16145 m), inside the scanner's blind front 60 deg. One box
#: would put a wall 0.19 m behind the scanner in every backward beam.
LIDAR_BODY_BOXES_M = ((BODY_BOX_M[0], (*BODY_BOX_M[1][:2], 0.15)),
                      ((0.067, -0.05, 0.15), (BODY_BOX_M[1][0], 0.05, BODY_BOX_M[1][2])))
#: The scanner on the chassis (hokuyo_joint: 0.02913 0 0.16145, yaw pi); the rest from simulation/lidar.py.
LIDAR_XYZ_M = (lidar.LIDAR_AHEAD_M, 0.0, 0.16145)
LIDAR_SENSOR_NAME = "hokuyo"
CAMERA_IMAGE_PX = (640, 480)
CAMERA_CLIP_M = (0.02, 300.0)
CAMERA_RATE_HZ = 15


def _gray(level: float) -> str:
    g = max(0.0, min(1.0, level / 255.0))
    return f"{g:.4f} {g:.4f} {g:.4f} 1"


def _material(level: float) -> str:
    c = _gray(level)
    return f"<material><ambient>{c}</ambient><diffuse>{c}</diffuse><specular>0 0 0 1</specular></material>"


# ---------------------------------------------------------------------- meshes
def _quads_obj(quads: np.ndarray, z_m: float, name: str) -> str:
    """Flat quads (Q, 4, 2) [m] at height z as an OBJ mesh of two triangles each, every triangle wound
    counter-clockwise seen from above (its visible face up; a twisted quad on a tight corner included)."""
    lines = [f"# {name}: {len(quads)} quads, made by deepracer-local", "vn 0 0 1"]
    for q in quads:
        for x, y in q:
            lines.append(f"v {x:.5f} {y:.5f} {z_m:.4f}")
    for i, q in enumerate(quads):
        for tri in ((0, 1, 2), (0, 2, 3)):
            (ax, ay), (bx, by), (cx, cy) = q[list(tri)]
            a, b, c = (4 * i + k + 1 for k in tri)
            if (bx - ax) * (cy - ay) - (by - ay) * (cx - ax) < 0:
                b, c = c, b
            lines.append(f"f {a}//1 {b}//1 {c}//1")
    return "\n".join(lines) + "\n"


def tyre_obj(radius_m: float, width_m: float, segments: int = WHEEL_SEGMENTS) -> str:
    """A wheel's collision mesh: a closed prism of ``segments`` flat faces around the y axis (the wheel
    joint's axis), its corners on a circle of ``radius_m``, ``width_m`` wide, centred on the link origin."""
    lines = [f"# wheel: {segments}-sided prism r={radius_m} w={width_m}, made by deepracer-local"]
    for y in (-width_m / 2, width_m / 2):
        for k in range(segments):
            a = 2 * math.pi * k / segments
            lines.append(f"v {radius_m * math.cos(a):.6f} {y:.6f} {radius_m * math.sin(a):.6f}")
    lines += [f"v 0 {-width_m / 2:.6f} 0", f"v 0 {width_m / 2:.6f} 0"]
    c0, c1 = 2 * segments + 1, 2 * segments + 2
    for k in range(segments):      # outward faces (counter-clockwise seen from outside)
        a, b = k + 1, (k + 1) % segments + 1
        lines += [f"f {a} {b + segments} {b}", f"f {a} {a + segments} {b + segments}",
                  f"f {c0} {a} {b}", f"f {c1} {b + segments} {a + segments}"]
    return "\n".join(lines) + "\n"


def box_obj(lo: tuple[float, float, float], hi: tuple[float, float, float], name: str) -> str:
    """An axis-aligned box from corner ``lo`` to ``hi`` [m] as a closed OBJ mesh, every face outward."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    lines = [f"# {name}: box, made by deepracer-local"]
    lines += [f"v {x} {y} {z}" for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]   # v = 4 ix + 2 iy + iz + 1
    v = lambda ix, iy, iz: 4 * ix + 2 * iy + iz + 1  # noqa: E731
    faces = (((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0)), ((1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)),
             ((0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)), ((0, 1, 0), (0, 1, 1), (1, 1, 1), (1, 1, 0)),
             ((0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)), ((0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)))
    for q in faces:
        a, b, c, d = (v(*p) for p in q)
        lines += [f"f {a} {b} {c}", f"f {a} {c} {d}"]
    return "\n".join(lines) + "\n"


def road_quads(track: Track) -> np.ndarray:
    """(N-1, 4, 2) the road between the two borders, segment by segment [m]."""
    lb, rb = track.left_border, track.right_border
    return np.stack([lb[:-1], rb[:-1], rb[1:], lb[1:]], axis=1)


def border_line_quads(track: Track) -> np.ndarray:
    """The white border lines: strips LINE_WIDTH_M wide on the road, along the inside of each edge [m]."""
    out = []
    for border in (track.left_border, track.right_border):
        inward = track.waypoints - border
        inward = inward / np.maximum(np.linalg.norm(inward, axis=1, keepdims=True), 1e-9)
        inner = border + LINE_WIDTH_M * inward
        out.append(np.stack([border[:-1], inner[:-1], inner[1:], border[1:]], axis=1))
    return np.concatenate(out, axis=0)


def center_dash_quads(track: Track) -> np.ndarray:
    """The centre line's dashes: CENTER_DASH_M long, CENTER_WIDTH_M wide, CENTER_GAP_M apart, the first
    one starting CENTER_DASH_START_M along the centre line [m]."""
    period = CENTER_DASH_M + CENTER_GAP_M
    starts = np.arange(CENTER_DASH_START_M, track.length_m - CENTER_DASH_M, period)
    if starts.size == 0:
        return np.zeros((0, 4, 2))
    a, b = track.center_at(starts), track.center_at(starts + CENTER_DASH_M)
    along = b - a
    along /= np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-9)
    side = np.stack([-along[:, 1], along[:, 0]], axis=1) * (CENTER_WIDTH_M / 2)
    return np.stack([a + side, a - side, b - side, b + side], axis=1)


# ---------------------------------------------------------------------- track model
@dataclass
class WorldBundle:
    """What the bridge needs to build a world: mesh files, model SDFs, their names, camera count."""

    files: dict[str, str]
    models: list[str]
    names: list[str]
    cameras: int
    #: what the car carries ("camera", "stereo" or "none"); the bridge keeps its car and refuses another
    car_key: str = "none"
    walls_m: tuple[float, float, float, float] | None = None
    meta: dict = field(default_factory=dict)
    #: the object models (boxes, bot cars) the commands place, in their order (also in ``names``)
    objects: list[str] = field(default_factory=list)
    #: ray sensors on the car (0 or 1): the bridge sends a scan with every step
    lidars: int = 0

    def message(self, request_id: str) -> str:
        """The JSON of the bridge's ``/deepracer/world`` message."""
        return json.dumps({"id": request_id, "files": self.files, "models": self.models, "names": self.names,
                           "remove": [TRACK_MODEL], "cameras": self.cameras, "lidars": self.lidars,
                           "car_key": self.car_key,
                           "track_key": self.track_key, "objects": self.objects})

    @property
    def track_key(self) -> str:
        """A digest of the track model and its meshes: the bridge keeps a track it already has."""
        h = hashlib.sha256(self.models[0].encode())
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode())
        return h.hexdigest()[:16]


def track_sdf(track: Track) -> tuple[str, dict[str, str], tuple[float, float, float, float] | None]:
    """The static track model (SDF), its mesh files, and the walls' inner rectangle (None: no walls)."""
    pal = PALETTES[palette_name(track.name) or "reinvent_base"]
    files = {
        "road.obj": _quads_obj(road_quads(track), ROAD_Z_M, "road"),
        "lines.obj": _quads_obj(border_line_quads(track), LINE_Z_M, "border lines"),
        "center.obj": _quads_obj(center_dash_quads(track), LINE_Z_M, "centre dashes"),
    }
    walls = walls_rectangle(track)
    pts = np.concatenate([track.inner_border, track.outer_border])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if walls is not None:
        lo, hi = np.minimum(lo, walls[:2]), np.maximum(hi, walls[2:])
    cx, cy = (lo + hi) / 2
    fx, fy = hi - lo + 2 * FIELD_MARGIN_M
    visuals = [
        f'<visual name="field"><pose>{cx:.4f} {cy:.4f} 0 0 0 0</pose><geometry><plane><normal>0 0 1</normal>'
        f'<size>{fx:.3f} {fy:.3f}</size></plane></geometry>{_material(pal.field)}</visual>',
    ]
    for name, level in (("road", pal.road), ("lines", pal.line), ("center", pal.center)):
        visuals.append(f'<visual name="{name}"><geometry><mesh><uri>file://@WORLD_DIR@/{name}.obj</uri></mesh>'
                       f'</geometry>{_material(level)}</visual>')
    # the ground: two triangles over the field, as the reference's track collision meshes (SDF default
    # surface, so the wheels' mu 0.5 is the smaller one and applies)
    gx0, gy0, gx1, gy1 = cx - fx / 2, cy - fy / 2, cx + fx / 2, cy + fy / 2
    files["field.obj"] = _quads_obj(np.array([[(gx0, gy0), (gx1, gy0), (gx1, gy1), (gx0, gy1)]]), 0.0, "field collision")
    collisions = ['<collision name="field"><geometry><mesh><uri>file://@WORLD_DIR@/field.obj</uri></mesh>'
                  '</geometry></collision>']
    if walls is not None:
        x0, y0, x1, y1 = walls
        t, h = WALL_THICKNESS_M, WALL_HEIGHT_M
        boxes = {   # name: centre x, centre y, size x, size y (inner faces on the rectangle)
            "wall_south": ((x0 + x1) / 2, y0 - t / 2, x1 - x0 + 2 * t, t),
            "wall_north": ((x0 + x1) / 2, y1 + t / 2, x1 - x0 + 2 * t, t),
            "wall_west": (x0 - t / 2, (y0 + y1) / 2, t, y1 - y0),
            "wall_east": (x1 + t / 2, (y0 + y1) / 2, t, y1 - y0),
        }
        for name, (x, y, sx, sy) in boxes.items():
            geo = f"<geometry><box><size>{sx:.4f} {sy:.4f} {h}</size></box></geometry>"
            pose = f"<pose>{x:.4f} {y:.4f} {h / 2} 0 0 0</pose>"
            visuals.append(f'<visual name="{name}">{pose}{geo}{_material(pal.wall)}</visual>')
            collisions.append(f'<collision name="{name}">{pose}{geo}</collision>')
    sdf = (f'<?xml version="1.0"?><sdf version="1.6"><model name="{TRACK_MODEL}"><static>true</static>'
           f'<link name="track">{"".join(visuals)}{"".join(collisions)}</link></model></sdf>')
    return sdf, files, walls


# ---------------------------------------------------------------------- car model
def _inertial(mass: float, inertia: tuple[float, float, float]) -> str:
    ixx, iyy, izz = inertia
    return (f"<inertial><mass>{mass}</mass><inertia><ixx>{ixx}</ixx><ixy>0</ixy><ixz>0</ixz><iyy>{iyy}</iyy>"
            f"<iyz>0</iyz><izz>{izz}</izz></inertia></inertial>")


#: The wheels' collision meshes, by width: the files of every car (WorldBundle.files).
WHEEL_MESH_FILES = {w: f"wheel_{round(w * 1000)}mm.obj" for w in WHEEL_WIDTH_M}


def _wheel_link(name: str, xyz: tuple[float, float, float], yaw: float, width_m: float) -> str:
    x, y, z = xyz
    mesh = f"<geometry><mesh><uri>file://@WORLD_DIR@/{WHEEL_MESH_FILES[width_m]}</uri></mesh></geometry>"
    geo = f"<geometry><cylinder><radius>{WHEEL_RADIUS_M}</radius><length>{width_m}</length></cylinder></geometry>"
    rot = f"<pose>0 0 0 {math.pi / 2:.6f} 0 0</pose>"
    surface = (f"<surface><friction><ode><mu>{WHEEL_MU}</mu><mu2>{WHEEL_MU}</mu2><fdir1>1 0 0</fdir1></ode>"
               f"</friction><contact><ode><kp>{WHEEL_KP:g}</kp><kd>{WHEEL_KD}</kd></ode></contact></surface>")
    return (f'<link name="{name}"><pose>{x} {y} {z} 0 0 {yaw}</pose>{_inertial(WHEEL_MASS_KG, WHEEL_INERTIA)}'
            f'<collision name="collision">{mesh}{surface}</collision>'
            f'<visual name="visual">{rot}{geo}{_material(20)}</visual></link>')


def _revolute(name: str, parent: str, child: str, axis: str) -> str:
    # continuous joints (the URDF's): no position limit; the effort and velocity limits apply
    return (f'<joint name="{name}" type="revolute"><parent>{parent}</parent><child>{child}</child><axis>'
            f'<xyz>{axis}</xyz><limit><lower>-1e16</lower><upper>1e16</upper><effort>{JOINT_EFFORT_NM}</effort>'
            f'<velocity>{JOINT_VELOCITY_RAD_S}</velocity></limit></axis></joint>')


def _camera_sensor(name: str, lens_left_m: float) -> str:
    # the lens relative to the chassis link (which sits CHASSIS_Z_M above the model origin)
    w, h = CAMERA_IMAGE_PX
    near, far = CAMERA_CLIP_M
    return (f'<sensor name="{name}" type="camera"><pose>{car.CAMERA_AHEAD_M} {lens_left_m} '
            f'{car.CAMERA_HEIGHT_M - CHASSIS_Z_M:.6f} 0 {car.CAMERA_PITCH_DOWN_RAD} 0</pose>'
            f'<always_on>1</always_on><update_rate>{CAMERA_RATE_HZ}</update_rate><camera name="zed">'
            f'<horizontal_fov>{car.CAMERA_HFOV_RAD}</horizontal_fov><image><width>{w}</width><height>{h}</height>'
            f'<format>R8G8B8</format></image><clip><near>{near}</near><far>{far}</far></clip></camera></sensor>')


def _lidar_sensor() -> str:
    """The reference's ray sensor (docs/gazebo-v5-facts.md 1.7): 64 beams over +-150 deg, 0.15-12 m at 1 cm,
    Gaussian noise 0.01 m, 10 Hz, turned to look backwards. A CPU ray sensor: it sees collision shapes."""
    x, y, z = LIDAR_XYZ_M
    return (f'<sensor name="{LIDAR_SENSOR_NAME}" type="ray"><pose>{x} {y} {z} 0 0 {lidar.LIDAR_MOUNT_YAW_RAD}</pose>'
            f'<always_on>1</always_on><update_rate>{lidar.LIDAR_UPDATE_HZ:g}</update_rate><ray><scan><horizontal>'
            f'<samples>{len(lidar.LIDAR_SCAN_ANGLES_RAD)}</samples><resolution>1</resolution>'
            f'<min_angle>{-lidar.LIDAR_FOV_RAD}</min_angle><max_angle>{lidar.LIDAR_FOV_RAD}</max_angle>'
            f'</horizontal></scan><range><min>{lidar.LIDAR_RANGE_MIN_M}</min><max>{lidar.LIDAR_MAX_RANGE_M}</max>'
            f'<resolution>0.01</resolution></range><noise><type>gaussian</type><mean>{lidar.LIDAR_NOISE_MEAN_M}</mean>'
            f'<stddev>{lidar.LIDAR_NOISE_STDDEV_M}</stddev></noise></ray></sensor>')


def has_lidar(sensors: list[str]) -> bool:
    return any(s in LIDAR_SENSORS for s in sensors)


def car_key(sensors: list[str]) -> str:
    """What the car carries, as the bridge compares it: "none", "camera" or "stereo", "+lidar" with one."""
    key = {0: "none", 1: "camera", 2: "stereo"}[len(camera_names(sensors))]
    return key + "+lidar" if has_lidar(sensors) else key


def camera_names(sensors: list[str]) -> list[str]:
    """The reference's camera sensor names for a model's sensors, in the bridge's (sorted) order."""
    if "STEREO_CAMERAS" in sensors:
        return ["zed_camera_left_sensor", "zed_camera_right_sensor"]
    if any(s in ("FRONT_FACING_CAMERA", "LEFT_CAMERA") for s in sensors):
        return ["zed_camera_left_sensor"]
    return []


def body_boxes(sensors: list[str]) -> tuple:
    """The body shell's collision boxes (lo, hi) in the chassis frame [m] for a car with ``sensors``. They
    collide as trimeshes (``car_files``), as the reference's shell does: with box primitives Gazebo 11's
    ray sensor reported hits 0.15-0.23 m behind the scanner in random backward beams, even with the box
    10 cm below the beam plane (tried); with the same boxes as meshes, none."""
    return LIDAR_BODY_BOXES_M if has_lidar(sensors) else (BODY_BOX_M,)


def car_files(sensors: list[str]) -> dict[str, str]:
    """The mesh files of a car with ``sensors``: its wheels and its body boxes."""
    files = {name: tyre_obj(WHEEL_RADIUS_M, w) for w, name in WHEEL_MESH_FILES.items()}
    files.update({f"body_{k}.obj": box_obj(lo, hi, f"body box {k}") for k, (lo, hi) in enumerate(body_boxes(sensors))})
    return files


def car_sdf(sensors: list[str]) -> str:
    """The car as an SDF model named ``racecar`` whose origin is the chassis centre (base_link)."""
    cz = CHASSIS_Z_M
    body_xml = ""
    for k, ((bx0, by0, bz0), (bx1, by1, bz1)) in enumerate(body_boxes(sensors)):
        geo = f"<geometry><box><size>{bx1 - bx0:.4f} {by1 - by0:.4f} {bz1 - bz0:.4f}</size></box></geometry>"
        pose = f"<pose>{(bx0 + bx1) / 2:.4f} {(by0 + by1) / 2:.4f} {(bz0 + bz1) / 2:.4f} 0 0 0</pose>"
        mesh = f"<geometry><mesh><uri>file://@WORLD_DIR@/body_{k}.obj</uri></mesh></geometry>"
        body_xml += (f'<collision name="body_{k}">{mesh}</collision>'
                     f'<visual name="body_{k}">{pose}{geo}{_material(40)}</visual>')
    cams = camera_names(sensors)
    if len(cams) == 2:
        sensor_xml = (_camera_sensor(cams[0], car.STEREO_HALF_BASELINE_M)
                      + _camera_sensor(cams[1], -car.STEREO_HALF_BASELINE_M))
    elif cams:
        sensor_xml = _camera_sensor(cams[0], 0.0)
    else:
        sensor_xml = ""
    if has_lidar(sensors):
        sensor_xml += _lidar_sensor()
    parts = [
        f'<link name="chassis"><pose>0 0 {cz} 0 0 0</pose>{_inertial(CHASSIS_MASS_KG, CHASSIS_INERTIA)}'
        f'{body_xml}{sensor_xml}</link>',
    ]
    rx, ry, rz = REAR_WHEEL_XYZ
    hx, hy, hz = HINGE_XYZ
    for side, sign in (("left", 1.0), ("right", -1.0)):
        parts.append(_wheel_link(f"{side}_rear_wheel", (rx, sign * ry, cz + rz), 0.0, WHEEL_WIDTH_M[0]))
        parts.append(_revolute(f"{side}_rear_wheel_joint", "chassis", f"{side}_rear_wheel", "0 1 0"))
        parts.append(f'<link name="{side}_steering_hinge"><pose>{hx} {sign * hy} {cz + hz} 0 0 0</pose>'
                     f'{_inertial(HINGE_MASS_KG, HINGE_INERTIA)}</link>')
        parts.append(_revolute(f"{side}_steering_hinge_joint", "chassis", f"{side}_steering_hinge", "0 0 1"))
        parts.append(_wheel_link(f"{side}_front_wheel", (hx, sign * hy, cz + hz), FRONT_TOE_RAD[side],
                                 WHEEL_WIDTH_M[1]))
        parts.append(_revolute(f"{side}_front_wheel_joint", f"{side}_steering_hinge", f"{side}_front_wheel",
                               "0 1 0"))
    return (f'<?xml version="1.0"?><sdf version="1.6"><model name="{CAR_MODEL}"><pose>0 0 0.05 0 0 0</pose>'
            f'{"".join(parts)}</model></sdf>')


@dataclass(frozen=True)
class ObjectSpec:
    """One object slot of the race world: a box of this body size [m] and gray level (0-255); a bot car
    (``kind`` KIND_BOT) also has the raised front of its shell up to BOT_SHELL_TOP_M, which is what the
    lidar's beam plane cuts of it (simulation/lidar.py LIDAR_OBSTACLE_SECTIONS)."""

    half_length_m: float
    half_width_m: float
    height_m: float
    gray: float
    kind: int = 0


#: A bot car's shell top above the ground [m]: the body shell mesh's 0.195 m on its 0.01577 m joint.
BOT_SHELL_TOP_M = 0.195 + 0.01577


def object_sdf(name: str, spec: ObjectSpec) -> str:
    """An object as a kinematic box model (no gravity, moved only by the bridge; the car collides with it)
    whose origin is on the ground under its centre."""
    sx, sy, h = 2 * spec.half_length_m, 2 * spec.half_width_m, spec.height_m
    geo = f"<geometry><box><size>{sx:.4f} {sy:.4f} {h:.4f}</size></box></geometry>"
    shapes = f'<collision name="collision">{geo}</collision><visual name="visual">{geo}{_material(spec.gray)}</visual>'
    if spec.kind == KIND_BOT and KIND_BOT in lidar.LIDAR_OBSTACLE_SECTIONS:
        ahead, hl, hw = lidar.LIDAR_OBSTACLE_SECTIONS[KIND_BOT]
        th = BOT_SHELL_TOP_M - h
        front = (f"<pose>{ahead:.4f} 0 {h / 2 + th / 2:.4f} 0 0 0</pose>"
                 f"<geometry><box><size>{2 * hl:.4f} {2 * hw:.4f} {th:.4f}</size></box></geometry>")
        shapes += f'<collision name="front">{front}</collision>'   # seen by the lidar, drawn as the fast camera does
    return (f'<?xml version="1.0"?><sdf version="1.6"><model name="{name}"><pose>{HIDDEN_X_M} 0 0 0 0 0</pose>'
            f'<link name="body"><pose>0 0 {h / 2:.4f} 0 0 0</pose><kinematic>true</kinematic>'
            f'<gravity>false</gravity>{shapes}</link></model></sdf>')


#: Where objects not in play wait [m, world x]: beyond the cameras' 300 m far clip (the reference hides
#: cars it does not use 60 m away).
HIDDEN_X_M = 1000.0


def object_names(count: int) -> list[str]:
    """Names for ``count`` object models, new at each call: a world's objects never share a name with the
    previous world's, which the bridge removes meanwhile (the rendering scene keys visuals by name)."""
    token = secrets.token_hex(3)
    return [f"object_{token}_{k}" for k in range(count)]


def world_bundle(track: Track, sensors: list[str], objects: list[ObjectSpec] | tuple = ()) -> WorldBundle:
    """Everything the bridge needs for ``track`` (driven either way: the world is the same), a car with
    the model's ``sensors`` (cameras, lidar) and the race's ``objects`` slots."""
    sdf, files, walls = track_sdf(track)
    cams = camera_names(sensors)
    files.update(car_files(sensors))
    names = object_names(len(objects))
    return WorldBundle(files=files, models=[sdf, car_sdf(sensors)] + [object_sdf(n, o) for n, o in zip(names, objects)],
                       names=[TRACK_MODEL, CAR_MODEL] + names,
                       cameras=len(cams), car_key=car_key(sensors), lidars=int(has_lidar(sensors)), walls_m=walls,
                       meta={"track": track.name, "road_quads": len(road_quads(track))}, objects=names)
