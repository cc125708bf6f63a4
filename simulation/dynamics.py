"""Car dynamics with grip: a dynamic bicycle whose tyres stick until friction runs out, then slide.

The reference car (simapp v6: gz-sim with the DART physics engine, ros2_control at 60 Hz) is a rigid
body on four wheels whose joints are velocity servos, all four commanded to the same wheel speed,
with both front wheels steered to the same angle by a position controller. Its tyres are rigid
contacts with Coulomb friction: a contact holds (no slip) while the force it needs stays within
mu x normal load, and slides at that force beyond it. This module models the same thing per axle:

- The body: planar rigid body (mass, yaw inertia, centre of mass) summed from the car URDF's links.
- Two contacts, the rear axle centre and the front axle centre (both front wheels at one angle).
  Each has two friction directions, along and across its wheels, each bounded by
  mu x the axle's static normal load on its own (DART's boxed friction: one bound per direction).
- Along the wheels the contact wants the ground speed to equal the wheel's surface speed; all four
  wheels turn at the commanded wheel speed (their servos reach it within milliseconds, see
  WHEEL_EFFORT_LIMIT_NM), so the car speeds up and brakes at the grip limit (about mu g = 4.9 m/s^2).
- Across the wheels the contact wants no sideways slip. While both axles hold, the car follows the
  kinematic bicycle's circle (rear axle radius = wheelbase / tan(steering)); when the front axle's
  friction runs out, it slides sideways at mu x its load and the car ploughs wide; when the rear's
  does, the tail steps out.
- Each step of 1/15 s is cut into sub-steps (SUBSTEP_HZ, two per 60 Hz controller tick). In each
  sub-step the steering moves as the v6 position controller moves it, then the contact impulses are
  found by projected Gauss-Seidel over the four friction directions (a velocity-level solve of the
  boxed friction problem DART solves exactly at 1 kHz), then the pose advances with the new velocities.

Because the front axle centre runs on a larger circle than the rear one (by 1 / cos(steering)) while
all wheels turn at the same speed, a turning car cannot have both axles rolling freely: here the
front holds and the rear wheels spin over the ground, pushing at mu x the rear load, so a car at full
lock runs about cos(30 deg) = 13% slower than its wheels and its front axle needs part of its grip to
hold the car back: it starts to slide at a lower lateral acceleration than mu g (about 2.9 m/s^2 at
30 deg, 3.9 at 15 deg, 4.7 at 5 deg). Held at a steady speed beyond that, the front slides and the
car ploughs wide. Speeding up beyond it, the steered front wheels' drive force adds to their sideways
grip (boxed friction), the front out-turns the rear and the car spins (at 30 deg from about 2 m/s
commanded). A two-contact model cannot show the same conflict between the left and right
wheels of one axle (no differential, no Ackermann geometry): that is the largest known gap. Measured
against the Gazebo (v5) car, which turns at about 0.6 of the kinematic yaw rate already at walking
pace (docs/gazebo.md, calibration), and so does the v6 car in DART (docs/dart.md): simulation/dynamics_four.py
is a four-contact model fitted to each; the one fitted to DART (``v6-four``) is the default car, and this
two-contact model is ``v6-two`` (DEEPRACER_DYNAMICS=v6-two; the default until 2026-12-05).

Where each constant comes from (simapp = aws-deepracer-community/deepracer-simapp, under bundle/;
spec = ../shared/spec/deepracer-compat.md section 9):
- URDF_LINKS (mass, x, y, izz of each link): urdf/deepracer/deepracer_single_cam.urdf (the car
  urdf/deepracer_kinematics/racecar.xacro includes, spawned by markov/spawn/models/agent_model.py):
  chassis 5.0 kg at the chassis centre, four wheels 0.34055 kg, two steering hinges 0.1 kg,
  zed_camera_link and camera_link 0.34055 kg, car_body_link_v3 0.3 kg. Read.
  MASS_KG 7.543, COM_AHEAD_M 0.0104 (ahead of the chassis centre), YAW_INERTIA_KG_M2 0.0953 (about
  the centre of mass) are summed from them.
- GRAVITY_MPS2 9.8: the SDF default gravity (the worlds, e.g. worlds/reinvent_base.world, set none).
- FRICTION 0.5: mu1 = mu2 = 0.5 on every wheel (urdf/deepracer/racecar.gazebo); the track models
  set no surface friction (SDF default 1.0) and DART takes the smaller of the two. Read; the
  combination rule is derived, to be calibrated against the Gazebo backend.
- WHEEL_CONTACT_RADIUS_M 0.036: the wheel collision meshes (meshes/deepracer/*_wheel.STL: 0.0360 m
  rear, 0.0362 m front). SPEED_FACTOR_RADIUS_M 0.035: the simapp divides the commanded speed by it
  to get the wheel speed command (markov/agent_ctrl/utils.py get_wheel_radius, version >= 3;
  rollout_agent_ctrl.py _update_speed), so the car runs 0.036 / 0.035 = 2.9% faster than commanded.
- WHEEL_SPEED_LIMIT_RAD_S 100: the wheel joints' velocity limit (the URDF's <limit velocity="100">);
  gz-physics' dartsim plugin copies it into DART, which clips velocity (servo) commands to it, so the
  top speed is 3.6 m/s whatever the command above 3.5 m/s. The spec calls this a v5 cap; the v6 URDF
  still has it. Derived from gz-physics/DART sources, to be calibrated against the Gazebo backend.
- WHEEL_EFFORT_LIMIT_NM 10: the wheel joints' effort limit (URDF); 10 N m / 0.036 m = 278 N per wheel
  against at most 0.5 x 74 N of grip for the whole car, and a wheel's inertia (0.00041 kg m^2) spins up
  to 100 rad/s in 4 ms, so the wheel speed is taken to equal its command at once.
- CONTROL_HZ 60: controller_manager update_rate (src/deepracer_simulation_environment/config/
  racecar_control_kinematics.yaml, used by agent_model.py). STEERING_GAIN_PER_TICK 0.1: the hinges
  are position-commanded through gz_ros2_control, which turns a position command into the velocity
  0.1 x update_rate x (command - position) (its default position_proportional_gain 0.1), held for one
  tick: each tick closes 10% of the steering error (time constant 1 / (60 ln(1/0.9)) = 0.16 s).
- Axle positions: car.REAR_AXLE_X_M, car.FRONT_AXLE_X_M (the URDF's wheel and hinge joints).
- Normal loads: static weight split between the axles by the centre of mass (56% front). Load
  transfer under acceleration (centre of mass about 4 cm high) is left out: with all four wheels
  driven and one friction coefficient it does not change the total grip. Derived, to be calibrated.
"""

from __future__ import annotations

import numpy as np

from . import car

#: (mass [kg], x [m], y [m], yaw inertia about its own centre [kg m^2]) of each link of the car URDF,
#: positions of the link's centre of mass relative to the chassis centre (joint origin + inertial origin).
URDF_LINKS = (
    (5.0, 0.0, 0.0, 0.05865),                                 # chassis
    (0.34055, -0.081663, 0.08105, 0.00026046),                # left_rear_wheel
    (0.34055, -0.081663, -0.08105, 0.00026046),               # right_rear_wheel
    (0.1, 0.082311, 0.079601, 4e-6),                          # left_steering_hinge
    (0.1, 0.082311, -0.079601, 4e-6),                         # right_steering_hinge
    (0.34055, 0.082311, 0.079601, 0.00026046),                # left_front_wheel
    (0.34055, 0.082311, -0.079601, 0.00026046),               # right_front_wheel
    (0.34055, 0.091711 + 0.019881, 6.2875e-5, 0.00026046),    # zed_camera_link
    (0.34055, 0.091711 + 0.044755 + 0.0005, 0.0, 0.00026046),  # camera_link
    (0.3, -0.0762, 0.0, 0.003),                               # car_body_link_v3
)
_links = np.array(URDF_LINKS)
MASS_KG = float(_links[:, 0].sum())
#: Centre of mass ahead of the chassis centre [m].
COM_AHEAD_M = float((_links[:, 0] * _links[:, 1]).sum() / MASS_KG)
_com_y = float((_links[:, 0] * _links[:, 2]).sum() / MASS_KG)
#: Yaw inertia about the centre of mass [kg m^2] (parallel-axis sum of the links).
YAW_INERTIA_KG_M2 = float((_links[:, 3] + _links[:, 0] * ((_links[:, 1] - COM_AHEAD_M) ** 2
                                                          + (_links[:, 2] - _com_y) ** 2)).sum())
del _links, _com_y

GRAVITY_MPS2 = 9.8
FRICTION = 0.5
#: The grip limit of the whole car [m/s^2]: the most it can speed up, brake or turn.
GRIP_MPS2 = FRICTION * GRAVITY_MPS2
WHEEL_CONTACT_RADIUS_M = 0.036
SPEED_FACTOR_RADIUS_M = 0.035
WHEEL_SPEED_LIMIT_RAD_S = 100.0
WHEEL_EFFORT_LIMIT_NM = 10.0
CONTROL_HZ = 60.0
STEERING_GAIN_PER_TICK = 0.1
#: Physics sub-steps per second. A numerical choice of this model (the reference steps DART at its
#: default 1 kHz): steady-corner radii at 120 Hz are within 1% of those at 960 Hz (2% at 60 Hz).
SUBSTEP_HZ = 120.0
#: Projected Gauss-Seidel sweeps over the four friction directions per sub-step, warm-started from
#: the previous sub-step's impulses (so a steady corner is solved exactly; 10 sweeps change the
#: steady-corner radii by under 0.5%). A numerical choice.
SOLVER_SWEEPS = 1
#: Sweeps in a step's first sub-step, which starts without impulses to warm-start from.
COLD_START_SWEEPS = 3

#: Rear and front axle centres ahead of the centre of mass [m] (the rear one is negative).
REAR_ARM_M = car.REAR_AXLE_X_M - COM_AHEAD_M
FRONT_ARM_M = car.FRONT_AXLE_X_M - COM_AHEAD_M
#: Static normal load on each axle [N].
REAR_LOAD_N = MASS_KG * GRAVITY_MPS2 * FRONT_ARM_M / (FRONT_ARM_M - REAR_ARM_M)
FRONT_LOAD_N = MASS_KG * GRAVITY_MPS2 * -REAR_ARM_M / (FRONT_ARM_M - REAR_ARM_M)


def _bound(a: np.ndarray, lim: float) -> np.ndarray:
    """``a`` clipped to [-lim, lim] (np.clip costs twice as much on small arrays)."""
    return np.minimum(np.maximum(a, -lim), lim)


def _cos_sin_small(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of small angles [rad] by their Taylor series (error under 1e-8 below 0.1 rad,
    the most a sub-step turns the car below 12 rad/s); cheaper than np.cos and np.sin."""
    a2 = a * a
    return 1.0 - a2 * (0.5 - a2 / 24.0), a * (1.0 - a2 * (1.0 / 6.0 - a2 / 120.0))


def wheel_ground_speed(speed_cmd_mps: np.ndarray) -> np.ndarray:
    """The surface speed [m/s] of wheels commanded ``speed_cmd_mps``: the simapp's wheel speed command
    (speed / 0.035 [rad/s], capped at the joints' 100 rad/s) times the wheels' 0.036 m radius."""
    omega = np.clip(np.asarray(speed_cmd_mps, np.float64) / SPEED_FACTOR_RADIUS_M,
                    -WHEEL_SPEED_LIMIT_RAD_S, WHEEL_SPEED_LIMIT_RAD_S)
    return omega * WHEEL_CONTACT_RADIUS_M


def step_dynamics(state: "car.CarState", speed_cmd_mps: np.ndarray, steering_cmd_rad: np.ndarray,
                  dt_s: float = car.STEP_S, mask: np.ndarray | None = None) -> np.ndarray:
    """Advance K cars by ``dt_s`` with the dynamic bicycle, in place.

    ``speed_cmd_mps`` (K,) is the commanded speed (as the simapp receives it, before the wheel radius
    factor), ``steering_cmd_rad`` (K,) the commanded steering angle. ``mask`` (K,) bool selects the cars
    that move (the others keep their whole state). Returns the distance each car's rear axle centre
    moved [m] (K,), 0 for cars outside the mask.
    """
    n_sub = max(1, int(round(dt_s * SUBSTEP_HZ)))
    h = dt_s / n_sub
    steer_gain = 1.0 - (1.0 - STEERING_GAIN_PER_TICK) ** (h * CONTROL_HZ)
    m_inv, i_inv = 1.0 / MASS_KG, 1.0 / YAW_INERTIA_KG_M2
    lr, lf = REAR_ARM_M, FRONT_ARM_M
    lim_r, lim_f = FRICTION * REAR_LOAD_N * h, FRICTION * FRONT_LOAD_N * h   # impulse bounds [N s]
    k_rx = 1.0 / m_inv                              # rear along: effective mass [kg]
    k_ry = 1.0 / (m_inv + lr * lr * i_inv)          # rear across

    vw = wheel_ground_speed(speed_cmd_mps)
    cmd = np.asarray(steering_cmd_rad, np.float64)
    d0 = state.steering_rad
    # The steering over the sub-steps: the error shrinks by (1 - steer_gain) per sub-step; within one
    # the hinges move at a constant rate, so the contact directions use the sub-step's mean angle.
    decay = (1.0 - steer_gain) ** np.arange(n_sub + 1)[:, None]           # (n_sub + 1, 1)
    d_all = cmd + (d0 - cmd) * decay                                       # (n_sub + 1, K)
    d_mid = 0.5 * (d_all[:-1] + d_all[1:])
    c_all, s_all = np.cos(d_mid), np.sin(d_mid)
    k_fx_all = 1.0 / (m_inv + lf * lf * i_inv * s_all * s_all)            # front along: effective mass
    k_fy_all = 1.0 / (m_inv + lf * lf * i_inv * c_all * c_all)            # front across

    yaw0 = state.yaw
    c0, s0 = np.cos(yaw0), np.sin(yaw0)
    # centre of mass position, heading (as cos, sin) and velocity (body frame)
    px = state.x + COM_AHEAD_M * c0
    py = state.y + COM_AHEAD_M * s0
    ch, sh = c0, s0
    yaw = yaw0
    vx = state.speed_mps
    r = state.yaw_rate_rps
    vy = state.lateral_mps + r * COM_AHEAD_M
    # accumulated impulses of the four friction directions, carried over sub-steps (warm start)
    p_rx = p_ry = p_fx = p_fy = 0.0
    for i in range(n_sub):
        # The body turned by r h in the last sub-step (the previous step's last one for the first)
        # while its velocity, free of forces, kept its world direction: express it in the new frame.
        cr, sr = _cos_sin_small(r * h)
        vx, vy = cr * vx + sr * vy, cr * vy - sr * vx
        c, s, k_fx, k_fy = c_all[i], s_all[i], k_fx_all[i], k_fy_all[i]
        # warm start: apply last sub-step's impulses along this sub-step's directions
        vx = vx + (p_rx + c * p_fx - s * p_fy) * m_inv
        vy = vy + (p_ry + s * p_fx + c * p_fy) * m_inv
        r = r + (lr * p_ry + lf * (s * p_fx + c * p_fy)) * i_inv
        for _ in range(SOLVER_SWEEPS if i else COLD_START_SWEEPS):
            # rear, along the wheels: ground speed -> wheel surface speed
            new = _bound(p_rx - (vx - vw) * k_rx, lim_r)
            dp = new - p_rx
            p_rx = new
            vx = vx + dp * m_inv
            # rear, across: no sideways slip
            new = _bound(p_ry - (vy + lr * r) * k_ry, lim_r)
            dp = new - p_ry
            p_ry = new
            vy = vy + dp * m_inv
            r = r + lr * dp * i_inv
            # front, along its wheels
            lat_f = vy + lf * r
            new = _bound(p_fx - (c * vx + s * lat_f - vw) * k_fx, lim_f)
            dp = new - p_fx
            p_fx = new
            vx = vx + c * dp * m_inv
            vy = vy + s * dp * m_inv
            r = r + lf * s * dp * i_inv
            # front, across its wheels
            lat_f = vy + lf * r
            new = _bound(p_fy - (c * lat_f - s * vx) * k_fy, lim_f)
            dp = new - p_fy
            p_fy = new
            vx = vx - s * dp * m_inv
            vy = vy + c * dp * m_inv
            r = r + lf * c * dp * i_inv
        # advance the pose with the new velocities, along the heading at mid sub-step
        ca, sa = _cos_sin_small(0.5 * r * h)
        cm, sm = ch * ca - sh * sa, sh * ca + ch * sa
        px = px + (vx * cm - vy * sm) * h
        py = py + (vx * sm + vy * cm) * h
        ch, sh = cm * ca - sm * sa, sm * ca + cm * sa
        yaw = yaw + r * h
    return store_step(state, mask, px, py, yaw, vx, vy, r, d_all[-1])


def store_step(state: "car.CarState", mask: np.ndarray | None, px, py, yaw, vx, vy, r, steering_rad) -> np.ndarray:
    """Write a step's end into ``state`` for the cars in ``mask`` (None: all): the centre of mass at
    (px, py) [m], heading ``yaw`` [rad], body-frame velocity (vx, vy) of the centre of mass [m/s], yaw
    rate r [rad/s], front wheel angle. Returns the distance each car's rear axle centre moved [m], 0
    outside the mask."""
    c0, s0 = np.cos(state.yaw), np.sin(state.yaw)
    c1, s1 = np.cos(yaw), np.sin(yaw)
    x1 = px - COM_AHEAD_M * c1
    y1 = py - COM_AHEAD_M * s1
    rear0x, rear0y = state.x + car.REAR_AXLE_X_M * c0, state.y + car.REAR_AXLE_X_M * s0
    moved = np.hypot(x1 + car.REAR_AXLE_X_M * c1 - rear0x, y1 + car.REAR_AXLE_X_M * s1 - rear0y)
    if mask is None:
        mask = np.ones(np.shape(state.x), bool)
    state.x = np.where(mask, x1, state.x)
    state.y = np.where(mask, y1, state.y)
    state.yaw = np.where(mask, car.wrap_angle(yaw), state.yaw)
    state.speed_mps = np.where(mask, vx, state.speed_mps)
    state.lateral_mps = np.where(mask, vy - r * COM_AHEAD_M, state.lateral_mps)
    state.yaw_rate_rps = np.where(mask, r, state.yaw_rate_rps)
    state.steering_rad = np.where(mask, steering_rad, state.steering_rad)
    return np.where(mask, moved, 0.0)
