"""The v6 reference car in DART: one car on a flat field, stepped as gz-sim steps it.

Every number is a fact of simapp v6.0.4 or of the libraries it runs on (docs/dart-v6-facts.md, section
numbers below as "facts §n"), or is marked as our choice:

- **Bodies** (facts §1.2-1.3): sdformat lumps every link on a fixed joint into ``base_link``: the chassis
  (5 kg), two camera links (0.34055 kg each, four on a stereo car), the body shell (0.3 kg) and the laser
  (1e-5 kg), so the simulated car is that body, two steering hinges (0.1 kg) and four wheels (0.34055 kg).
  ``lumped_body`` sums them from the URDF rows in LINKS (parallel axis, the camera links pitched 15 deg).
  The car is the URDF the normal launch spawns: ``single_cam_lidar`` (camera and lidar models alike), or
  ``stereo_cam_lidar`` for a stereo model (four camera links, no toe on the front wheels).
- **Joints** (facts §1.4, gz-physics SDFFeatures): wheel joints continuous (no position limit), hinges
  revolute +-1 rad; effort 10 N m and velocity 100 rad/s on all six; gz-physics turns limit enforcement on.
- **Contacts** (facts §1.5-1.6, §2.2-2.4; gz-physics EntityManagementFeatures): each wheel's collision is
  its STL mesh, here a 38-sided prism of radius 0.036 m made from that mesh's facts (simulation/gazebo/
  world.py ``tyre_obj``; widths per wheel from the STL bounding boxes); the ground is the track model's
  field mesh, two triangles, with no surface set (mu 1); mu = min(0.5, 1) = 0.5; the ODE collision
  detector, at most 20 contacts per pair and 10,000 in all; DART's Dantzig solver with its contact
  defaults (kp/kd are ignored under DART). Body shell, camera and laser cubes are not built: they are
  above the ground, and walls and objects are the fast simulator's race rules (off track, crashes).
- **Friction directions**: gz-physics gives each wheel's contacts the wheel's fdir1 (1 0 0 in the wheel's
  frame, facts §1.6), so a wheel's friction pyramid turns with the wheel; without it DART aligns every
  pyramid with the world's x and y axes, and the car's grip would depend on its heading (measured: the
  yaw-rate ratios move by up to 3x between headings). dartpy binds no setter for it:
  ``set_first_friction_direction`` writes it, after checking where DART keeps it.
- **Where the car is**: every controller tick the car is moved back to the world's origin, its heading,
  height and velocities kept (the field is flat and uniform, so nothing else changes), and its place in
  the track is kept here (``motion``): the field mesh stays small and the numbers near zero.
- **Controllers** (facts §3): gz_ros2_control's ``write`` runs every 1 ms physics step, its ``read`` and
  the controllers' update every 17 steps (the first step at least 1/60 s after the last). The wheels are
  velocity servos at the commanded rad/s (DART clips to 100 rad/s and bounds the force at 10 N m); the
  hinges get the velocity 0.1 x 60 x (target - angle at the last read). A new command takes effect at the
  next controller update. The simapp commands speed / 0.035 m (``car.WHEEL_RADIUS_M``) to all four
  wheels and the same angle to both hinges.
- **Stepping** (facts §4): an env step is 1/15 s of simulated time (67 or 66 physics steps of 1 ms, kept on
  the k/15 s grid). A reset puts the car level with its origin at z = 0 and no motion, as the simapp's
  set_model_state (the hinges keep their angle; the reference's teleport also keeps the body's velocity,
  which is not modelled: a reset car here is at rest).
"""

from __future__ import annotations

import ctypes
import math
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import car
from ..gazebo.world import WHEEL_SEGMENTS, tyre_obj
from . import DARTPY_REQUIREMENT, DartError, import_dartpy

# ------------------------------------------------------------------ facts (docs/dart-v6-facts.md)
#: Physics step [s]: sdformat's default max_step_size; no v6 world sets one (facts §2.2).
PHYSICS_STEP_S = 0.001
GRAVITY_MPS2 = 9.8
#: gz_ros2_control: controller_manager update_rate [Hz] and position_proportional_gain (facts §3.1-3.2).
CONTROL_RATE_HZ = 60.0
POSITION_GAIN = 0.1
#: The controllers update when at least 1/CONTROL_RATE_HZ of sim time has passed: every 17 physics steps.
CONTROL_PERIOD_STEPS = math.ceil(round(1.0 / CONTROL_RATE_HZ / PHYSICS_STEP_S, 9))
JOINT_EFFORT_NM = 10.0
JOINT_VELOCITY_RAD_S = 100.0
HINGE_LIMIT_RAD = 1.0
WHEEL_MU = 0.5
#: Friction of a mesh collision (the track's): gz-physics reads no surface for meshes, DART's default.
TRACK_MU = 1.0
MAX_CONTACTS_PER_PAIR = 20
MAX_CONTACTS = 10000
WHEEL_RADIUS_M = 0.036
#: The wheels' first friction direction, in the wheel's frame (racecar.gazebo fdir1, facts §1.6).
WHEEL_FDIR1 = (1.0, 0.0, 0.0)
#: Wheel widths [m] from the STL bounding boxes (facts §1.5).
WHEEL_WIDTH_M = {"left_rear": 0.034, "right_rear": 0.034, "left_front": 0.035, "right_front": 0.034}
#: base_link -> chassis (the fixed base_link_joint) [m].
CHASSIS_Z_M = 0.023249
REAR_WHEEL_XYZ = (-0.081663, 0.08105, 0.01575)      # chassis frame; y mirrored for the right wheel
HINGE_XYZ = (0.082311, 0.079601, 0.011759)
FRONT_TOE_RAD = {"left": 0.0022537, "right": 0.0065592}   # 0 on the stereo car
WHEEL_MASS_KG = 0.34055
WHEEL_INERTIA = (0.00026046, 0.00041226, 0.00026046)
HINGE_MASS_KG = 0.1
HINGE_INERTIA = (4e-6, 4e-6, 4e-6)

_CAMERA_PITCH = 0.2618
_WHEEL_LIKE = WHEEL_INERTIA


@dataclass(frozen=True)
class LinkRow:
    """A URDF link lumped into base_link: mass [kg], its frame's origin in the chassis frame [m] and pitch
    and yaw [rad], its inertial origin in its own frame [m] and diagonal inertia [kg m^2]."""
    name: str
    mass_kg: float
    xyz_m: tuple[float, float, float]
    pitch_rad: float
    yaw_rad: float
    com_m: tuple[float, float, float]
    inertia: tuple[float, float, float]


def _camera_links(y_m: float, suffix: str) -> tuple[LinkRow, LinkRow]:
    """The zed camera link (chassis -> 0.091711 y 0.080023, pitched 15 deg) and the camera link 0.044755 m
    ahead and 0.04 m above it in the zed frame (facts §1.2, §1.4)."""
    c, s = math.cos(_CAMERA_PITCH), math.sin(_CAMERA_PITCH)
    zed = (0.091711, y_m, 0.080023)
    cam = (zed[0] + c * 0.044755 + s * 0.04, y_m, zed[2] - s * 0.044755 + c * 0.04)
    return (LinkRow(f"zed_camera_link{suffix}", 0.34055, zed, _CAMERA_PITCH, 0.0, (0.019881, 0.0, 0.034966), _WHEEL_LIKE),
            LinkRow(f"camera_link{suffix}", 0.34055, cam, _CAMERA_PITCH, 0.0, (0.0005, 0.0, 0.0), _WHEEL_LIKE))


def link_rows(stereo: bool) -> tuple[LinkRow, ...]:
    """The links sdformat lumps into base_link, of ``single_cam_lidar`` or ``stereo_cam_lidar`` (facts §1.2)."""
    cameras = (_camera_links(0.03, "_leftcam") + _camera_links(-0.03, "_rightcam")) if stereo else _camera_links(0.0, "")
    return (LinkRow("chassis", 5.0, (0.0, 0.0, 0.0), 0.0, 0.0, (0.0, 0.0, 0.0), (0.010609, 0.050409, 0.05865)),
            *cameras,
            LinkRow("car_body_link_v3", 0.3, (-0.0762, 0.0, 2e-5), 0.0, 0.0, (0.0, 0.0, 0.0), (0.001, 0.003, 0.003)),
            LinkRow("laser", 1e-5, (0.02913, 0.0, 0.16145), 0.0, 3.1416, (0.006099, 0.00028423, -0.012654), _WHEEL_LIKE))


def _rotation(pitch: float, yaw: float) -> np.ndarray:
    cp, sp, cy, sy = math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return rz @ ry


def lumped_body(stereo: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """base_link as sdformat makes it: mass [kg], centre of mass in the base_link frame [m] (3,), inertia
    tensor about the centre of mass in base_link axes [kg m^2] (3, 3)."""
    rows = link_rows(stereo)
    masses, points, tensors = [], [], []
    for r in rows:
        rot = _rotation(r.pitch_rad, r.yaw_rad)
        points.append(np.array(r.xyz_m) + rot @ np.array(r.com_m) + (0.0, 0.0, CHASSIS_Z_M))
        tensors.append(rot @ np.diag(r.inertia) @ rot.T)
        masses.append(r.mass_kg)
    m = np.array(masses)
    total = float(m.sum())
    com = (m[:, None] * np.array(points)).sum(0) / total
    inertia = sum(t + mi * (np.dot(p - com, p - com) * np.eye(3) - np.outer(p - com, p - com))
                  for t, mi, p in zip(tensors, m, points))
    return total, com, inertia


# ------------------------------------------------------------------ the wheels' friction direction
#: Distinct values put into a DynamicsAspect to find its properties in memory (set_first_friction_direction).
_PROBE_FRICTION, _PROBE_RESTITUTION = 0.123456789012345, 0.987654321098765
#: Bytes of a DynamicsAspect searched for its properties (they start 32 bytes in with dartpy 6.16-6.20).
_ASPECT_SEARCH_BYTES = 128


def set_first_friction_direction(aspect, direction: tuple[float, float, float]) -> None:
    """Give a shape's contacts the first friction direction ``direction`` in the shape's own frame, as
    gz-physics does with an SDF ``fdir1`` (DART DynamicsAspect::setFirstFrictionDirection).

    dartpy 6.x binds no setter for it, so the value is written into the aspect's properties, which DART
    declares as (friction, restitution, secondary friction, primary slip, secondary slip, first friction
    direction (3 doubles), its frame). They are found by their contents: the aspect gets two probe values,
    and the write happens only where exactly those ten fields are found (the probes, the secondary friction
    equal to the first, both slips -1, no direction, no frame); anything else is a DartError, never a blind
    write. The friction and restitution are left at the probe values: set them after this call."""
    aspect.setFrictionCoeff(_PROBE_FRICTION)
    aspect.setRestitutionCoeff(_PROBE_RESTITUTION)
    # a pybind11 instance keeps the pointer to its C++ object right after the Python object header
    address = ctypes.c_void_p.from_address(id(aspect) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    if not address:
        raise DartError("dartpy's DynamicsAspect has no C++ object to give the wheels their friction direction")
    words = struct.unpack(f"{_ASPECT_SEARCH_BYTES // 8}d", ctypes.string_at(address, _ASPECT_SEARCH_BYTES))
    signature = (_PROBE_FRICTION, _PROBE_RESTITUTION, _PROBE_FRICTION, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0)
    found = [i for i in range(len(words) - len(signature) + 1) if words[i:i + len(signature)] == signature]
    if len(found) != 1:
        raise DartError("this dartpy's DynamicsAspect does not hold its properties as DART 6.10-6.20 declare "
                        f"them (found {len(found)} matches), so the wheels cannot get their friction direction; "
                        f"install {DARTPY_REQUIREMENT}")
    ctypes.memmove(address + 8 * (found[0] + 5), struct.pack("3d", *map(float, direction)), 24)


# ------------------------------------------------------------------ the model as URDF text (ours), built into DART
_mesh_dir: Path | None = None


def _meshes() -> Path:
    """A folder of this process with the wheel and field meshes (OBJ), made once."""
    global _mesh_dir
    if _mesh_dir is None:
        d = Path(tempfile.mkdtemp(prefix="deepracer-dart-"))
        for w in sorted(set(WHEEL_WIDTH_M.values())):
            (d / f"wheel_{round(w * 1000)}mm.obj").write_text(tyre_obj(WHEEL_RADIUS_M, w, WHEEL_SEGMENTS))
        h = FIELD_HALF_M
        (d / "field.obj").write_text(f"# field: two triangles, made by deepracer-local\nv {-h} {-h} 0\nv {h} {-h} 0\n"
                                     f"v {h} {h} 0\nv {-h} {h} 0\nf 1 2 3\nf 1 3 4\n")
        _mesh_dir = d
    return _mesh_dir


#: Half the side of the field mesh [m]; the car is brought back to the origin every controller tick.
FIELD_HALF_M = 5.0


def _inertial(mass: float, com, tensor) -> str:
    t = np.asarray(tensor)
    return (f'<inertial><origin xyz="{com[0]:.9g} {com[1]:.9g} {com[2]:.9g}"/><mass value="{mass:.9g}"/>'
            f'<inertia ixx="{t[0, 0]:.9g}" ixy="{t[0, 1]:.9g}" ixz="{t[0, 2]:.9g}" iyy="{t[1, 1]:.9g}" '
            f'iyz="{t[1, 2]:.9g}" izz="{t[2, 2]:.9g}"/></inertial>')


def car_urdf(mesh_dir: Path, stereo: bool = False) -> str:
    """The lumped v6 car as URDF: base_link, two hinges, four wheels with their collision meshes."""
    mass, com, tensor = lumped_body(stereo)
    links = [f'<link name="base_link">{_inertial(mass, com, tensor)}</link>']
    joints = []

    def joint(name, parent, child, xyz, axis, rpy=(0.0, 0.0, 0.0), limit=""):
        kind = "revolute" if limit else "continuous"
        joints.append(f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
                      f'<origin xyz="{xyz[0]} {xyz[1]} {xyz[2]}" rpy="{rpy[0]} {rpy[1]} {rpy[2]}"/>'
                      f'<axis xyz="{axis}"/><limit {limit}effort="{JOINT_EFFORT_NM}" velocity="{JOINT_VELOCITY_RAD_S}"/>'
                      f'</joint>')

    diag = lambda m, i: _inertial(m, (0, 0, 0), np.diag(i))   # noqa: E731
    for side, sign in (("left", 1.0), ("right", -1.0)):
        wheel = f"{side}_rear_wheel"
        mesh = mesh_dir / f"wheel_{round(WHEEL_WIDTH_M[f'{side}_rear'] * 1000)}mm.obj"
        links.append(f'<link name="{wheel}">{diag(WHEEL_MASS_KG, WHEEL_INERTIA)}<collision><geometry>'
                     f'<mesh filename="file://{mesh}"/></geometry></collision></link>')
        x, y, z = REAR_WHEEL_XYZ
        joint(f"{wheel}_joint", "base_link", wheel, (x, sign * y, z + CHASSIS_Z_M), "0 1 0")
        hinge = f"{side}_steering_hinge"
        links.append(f'<link name="{hinge}">{diag(HINGE_MASS_KG, HINGE_INERTIA)}</link>')
        x, y, z = HINGE_XYZ
        joint(f"{hinge}_joint", "base_link", hinge, (x, sign * y, z + CHASSIS_Z_M), "0 0 1",
              limit=f'lower="{-HINGE_LIMIT_RAD}" upper="{HINGE_LIMIT_RAD}" ')
        wheel = f"{side}_front_wheel"
        mesh = mesh_dir / f"wheel_{round(WHEEL_WIDTH_M[f'{side}_front'] * 1000)}mm.obj"
        links.append(f'<link name="{wheel}">{diag(WHEEL_MASS_KG, WHEEL_INERTIA)}<collision><geometry>'
                     f'<mesh filename="file://{mesh}"/></geometry></collision></link>')
        joint(f"{wheel}_joint", hinge, wheel, (0.0, 0.0, 0.0), "0 1 0",
              rpy=(0.0, 0.0, 0.0 if stereo else FRONT_TOE_RAD[side]))
    return f'<robot name="racecar">{"".join(links)}{"".join(joints)}</robot>'


WHEEL_JOINTS = ("left_rear_wheel_joint", "right_rear_wheel_joint", "left_front_wheel_joint", "right_front_wheel_joint")
HINGE_JOINTS = ("left_steering_hinge_joint", "right_steering_hinge_joint")


@dataclass
class DartMotion:
    """A car's pose in the track and its motion: chassis centre [m], heading [rad], forward and leftward
    speed of the chassis centre [m/s], yaw rate [rad/s], the front wheels' angle (mean of the hinges) [rad],
    simulated time since the car was made [s]."""
    x: float
    y: float
    yaw: float
    speed_mps: float
    lateral_mps: float
    yaw_rate_rps: float
    steering_rad: float
    sim_time_s: float


class DartCar:
    """One v6 car on a flat field in a DART world of its own.

    ``put(x, y, yaw)`` places it at rest; ``step(steering_rad, wheel_speed_rad_s)`` sends the commands (as
    the simapp sends them: both hinges one angle, all four wheels one speed) and runs one env step of 1/15 s;
    ``motion()`` reads its pose and motion. ``recentre``: bring the car back to the origin every controller
    tick (the module docstring). ``wheel_friction_directions``: the wheels' fdir1 as gz-physics sets it
    (off: DART's world-aligned friction pyramids, for checks)."""

    def __init__(self, stereo: bool = False, recentre: bool = True, wheel_friction_directions: bool = True):
        dart = import_dartpy()
        self._dart = dart
        self.recentre = recentre
        mesh_dir = _meshes()
        loader = dart.utils.DartLoader()
        options = dart.utils.DartLoaderOptions()
        options.mDefaultRootJointType = dart.utils.DartLoaderRootJointType.FLOATING
        loader.setOptions(options)
        base_uri = dart.common.Uri(f"file://{mesh_dir}/")
        self.skeleton = loader.parseSkeletonString(car_urdf(mesh_dir, stereo), base_uri)
        ground = loader.parseSkeletonString(
            f'<robot name="field"><link name="field"><collision><geometry><mesh filename="file://{mesh_dir}/field.obj"/>'
            f'</geometry></collision></link></robot>', base_uri)
        if self.skeleton is None or ground is None:
            raise RuntimeError(f"DART could not build the car or the field from the meshes in {mesh_dir}")
        ground.setMobile(False)
        world = dart.simulation.World()
        world.setTimeStep(PHYSICS_STEP_S)
        world.setGravity([0.0, 0.0, -GRAVITY_MPS2])
        deactivation = world.getDeactivationOptions()    # dartpy >= 6.16 puts resting bodies to sleep; DART 6.13 did not
        deactivation.mEnabled = False
        world.setDeactivationOptions(deactivation)
        solver = world.getConstraintSolver()
        solver.setCollisionDetector(dart.collision.OdeCollisionDetector())
        option = solver.getCollisionOption()
        option.maxNumContacts = MAX_CONTACTS
        option.maxNumContactsPerPair = MAX_CONTACTS_PER_PAIR
        for skel, mu in ((ground, TRACK_MU), (self.skeleton, WHEEL_MU)):
            for b in range(skel.getNumBodyNodes()):
                node = skel.getBodyNode(b)
                for s in range(node.getNumShapeNodes()):
                    shape = node.getShapeNode(s)
                    aspect = shape.getDynamicsAspect() or shape.createDynamicsAspect()
                    if skel is self.skeleton and wheel_friction_directions:
                        set_first_friction_direction(aspect, WHEEL_FDIR1)
                    aspect.setFrictionCoeff(mu)
                    aspect.setRestitutionCoeff(0.0)
        world.addSkeleton(ground)
        world.addSkeleton(self.skeleton)
        self.world = world
        self._base = self.skeleton.getBodyNode("base_link")
        self._wheels = [self.skeleton.getJoint(n) for n in WHEEL_JOINTS]
        self._hinges = [self.skeleton.getJoint(n) for n in HINGE_JOINTS]
        for j in self._wheels + self._hinges:
            j.setLimitEnforcement(True)
            j.setActuatorType(dart.dynamics.ActuatorType.SERVO)
            j.setCommand(0, 0.0)
        self._since_tick = 0
        self._physics_steps = 0          # since the car was made
        self._env_steps = 0
        self._target = (0.0, 0.0)        # steering [rad], wheel speed [rad/s] the controllers have now
        self._offset = (0.0, 0.0, 0.0)   # the DART world's origin and heading in the track [m, m, rad]
        self.put(0.0, 0.0, 0.0)

    # ------------------------------------------------------------------ pose
    def put(self, x: float, y: float, yaw: float) -> None:
        """Place the car level with its origin at z = 0 at (x, y, yaw) in the track, at rest (wheels and body
        still; the hinges keep their angle), as the simapp's reset does."""
        q = self.skeleton.getPositions()
        q[:6] = 0.0
        self.skeleton.setPositions(q)
        self.skeleton.setVelocities(np.zeros(self.skeleton.getNumDofs()))
        self._offset = (float(x), float(y), float(yaw))

    def _recentre(self) -> None:
        """Bring the car back to the world's origin, heading, height and velocities kept; its place in the
        track is kept in ``_offset``."""
        tf = self._base.getWorldTransform()
        p = tf.translation()
        ox, oy, oyaw = self._offset
        c, s = math.cos(oyaw), math.sin(oyaw)
        self._offset = (ox + c * p[0] - s * p[1], oy + s * p[0] + c * p[1], oyaw)
        tf.set_translation([0.0, 0.0, p[2]])
        q = self.skeleton.getPositions()
        v = self.skeleton.getVelocities()      # a free joint's velocities are in the body's frame: they stay
        q[:6] = self._dart.dynamics.FreeJoint.convertToPositions(tf)
        self.skeleton.setPositions(q)
        self.skeleton.setVelocities(v)

    # ------------------------------------------------------------------ step
    def step(self, steering_rad: float, wheel_speed_rad_s: float) -> None:
        """Send the commands and run 1/15 s of physics (67 or 66 steps of 1 ms, on the k/15 s grid); the
        controllers take the commands at their next update (every CONTROL_PERIOD_STEPS)."""
        k = self._env_steps
        n = round((k + 1) * car.STEP_S / PHYSICS_STEP_S) - round(k * car.STEP_S / PHYSICS_STEP_S)
        self._env_steps += 1
        command = (float(steering_rad), float(wheel_speed_rad_s))
        for _ in range(n):
            self.world.step(False)    # the joints keep their commands, as gz_ros2_control writes them every step
            self._since_tick += 1
            if self._since_tick >= CONTROL_PERIOD_STEPS:
                self._since_tick = 0
                self._target = command
                self._update_controllers()
        self._physics_steps += n

    def _update_controllers(self) -> None:
        """A controller update: the wheel servos to the target speed, each hinge to the P-law velocity from
        its angle now (held until the next update); then the car is brought back to the origin."""
        steering, wheel_speed = self._target
        for j in self._wheels:
            j.setCommand(0, wheel_speed)
        for h in self._hinges:
            h.setCommand(0, POSITION_GAIN * CONTROL_RATE_HZ * (steering - h.getPosition(0)))
        if self.recentre:
            self._recentre()

    def motion(self) -> DartMotion:
        tf = self._base.getWorldTransform()
        rot, p = tf.rotation(), tf.translation()
        yaw = math.atan2(rot[1, 0], rot[0, 0])
        v = self._base.getLinearVelocity()
        c, s = math.cos(yaw), math.sin(yaw)
        ox, oy, oyaw = self._offset
        co, so = math.cos(oyaw), math.sin(oyaw)
        return DartMotion(x=ox + co * p[0] - so * p[1], y=oy + so * p[0] + co * p[1],
                          yaw=float(car.wrap_angle(oyaw + yaw)), speed_mps=c * v[0] + s * v[1],
                          lateral_mps=-s * v[0] + c * v[1], yaw_rate_rps=float(self._base.getAngularVelocity()[2]),
                          steering_rad=0.5 * (self._hinges[0].getPosition(0) + self._hinges[1].getPosition(0)),
                          sim_time_s=self._physics_steps * PHYSICS_STEP_S)

    def wheel_speeds_rad_s(self) -> list[float]:
        return [j.getVelocity(0) for j in self._wheels]

    def height_m(self) -> float:
        """The base_link origin's height above the field [m]."""
        return float(self._base.getWorldTransform().translation()[2])
