"""A four-contact version of the car dynamics, fitted to the DART (v6) car (``v6-four``, the default car) and to the
Gazebo (v5) car (DEEPRACER_DYNAMICS=v5).

simulation/dynamics.py models the car with one contact per axle. The reference car has four wheels, all
four servoed to the same speed and both front ones steered to the same angle, so in a turn the wheels of
each axle fight: the inner one is pushed, the outer one held back, and that yaw moment opposes the turn.
The Gazebo car measures it (docs/gazebo.md, calibration: about 0.6 of the kinematic yaw rate already at
0.5 m/s). This module gives each wheel its own contact, so the fight appears:

- the same body, loads, steering controller, wheel speed and sub-steps as simulation/dynamics.py (every
  constant is read from there; only the contacts differ);
- four contacts at the wheels (rear: the rear wheel joints' y, front: the steering hinges' y, from the
  URDF rows of dynamics.URDF_LINKS), each with a direction along its wheel (ground speed -> the wheel's
  surface speed) and one across it (no sideways slip), each bounded by mu x the wheel's static load (half
  its axle's), solved by projected Gauss-Seidel like dynamics.py;
- a slip compliance below the friction limit: a contact that needs less than its limit still slips at
  force / SLIP_*_NS_M (a soft constraint). Without it the rigid Coulomb contacts are bistable here
  (from rest at 5 deg and 0.5 m/s the car barely turns, at 1 m/s it follows its wheels). The two figures
  are fitted, not reference facts: a grid search on the yaw-ratio table at 0.5, 1 and 2 m/s against the
  Gazebo car (python -m simulation.gazebo.calibrate --fit-four-contact), RMS error 0.07.

``step_dynamics_v5`` (DEEPRACER_DYNAMICS=v5) is this model with the v5 steering: the Gazebo car's hinges
(position PID p 1.0, d 0.5 on a light hinge) answer a 30 deg step with t63 0.47 s and t90 1.0 s, which
the fast car's first-order controller gives with V5_STEERING_GAIN_PER_TICK (fitted: 0.036 of the error
per 60 Hz tick reproduces both figures to the 1/15 s step; the v6 controller closes 0.1).

``step_dynamics_v6_four`` (``v6-four``, the default) is this model with the v6 steering, fitted to the DART car
(simulation/dart, the v6 reference's physics): slip compliances of 300 N s/m along and 400 across, and 1.1x the
grip across the wheels as along them (grid search on the DART car's yaw-ratio table at 0.5, 1 and 2 m/s, scored
by relative error so that the 2 m/s corners the racing line drives weigh as much as the slow ones: ``python -m
simulation.gazebo.calibrate --fit-four-contact --against dart``; RMS relative error 0.077). The DART car's
contacts are rigid (no slip below the limit) and its grip is the same in every direction, so these figures
stand for what its polygonal, hopping wheels give, not for reference constants. With equal grip (the fit until
2026-12-06: 200 and 400 N s/m) the car turned 25-35% less than the DART car at 2 m/s; more grip in every
direction mends that but speeds up its straight line (docs/dart.md, "The racing regime").

It costs 1.6-1.8x the two-contact step (simulation/dynamics.py, ``v6-two``, the default until 2026-12-05);
the racing line reads the corners of whichever car runs (simulation/steady_corners.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import car
from . import dynamics as D

#: Half the rear and front track [m]: the rear wheel joints' and the steering hinges' y (URDF rows).
HALF_TRACK_REAR_M = abs(D.URDF_LINKS[1][2])
HALF_TRACK_FRONT_M = abs(D.URDF_LINKS[5][2])
#: Slip compliance of one wheel below its friction limit, along and across the wheel [N s/m] (fitted).
SLIP_ALONG_NS_M = 50.0
SLIP_ACROSS_NS_M = 100.0
#: Slip compliances of the car fitted to the DART (v6) car [N s/m per wheel] and its grip across the wheels
#: over its grip along them (fitted; refit with ``python -m simulation.gazebo.calibrate --fit-four-contact
#: --against dart``).
V6_SLIP_ALONG_NS_M = 300.0
V6_SLIP_ACROSS_NS_M = 400.0
V6_ACROSS_GRIP_SCALE = 1.1
#: The v5 steering: the share of the steering error closed per 60 Hz tick (fitted to the Gazebo car).
V5_STEERING_GAIN_PER_TICK = 0.036
#: Gauss-Seidel sweeps per sub-step (warm-started) and in a step's first sub-step; 3 sweeps give the
#: same calibration figures to 0.01.
SOLVER_SWEEPS = 1
COLD_START_SWEEPS = 3


def step_dynamics_four(state: "car.CarState", speed_cmd_mps: np.ndarray, steering_cmd_rad: np.ndarray,
                       dt_s: float = car.STEP_S, mask: np.ndarray | None = None,
                       slip_along_ns_m: float = SLIP_ALONG_NS_M,
                       slip_across_ns_m: float = SLIP_ACROSS_NS_M,
                       steering_gain_per_tick: float | np.ndarray | None = None,
                       grip_scale: float | np.ndarray = 1.0, across_grip_scale: float = 1.0) -> np.ndarray:
    """Advance K cars by ``dt_s`` in place, as dynamics.step_dynamics does (same arguments and return: the
    distance each car's rear axle centre moved [m]), with four wheel contacts; the steering closes
    ``steering_gain_per_tick`` of its error per 60 Hz tick (default dynamics.STEERING_GAIN_PER_TICK, v6), the
    tyres' friction is ``grip_scale`` x dynamics.FRICTION (both may be (K,) arrays: simulation/robust.py), and
    ``across_grip_scale`` x that across the wheels."""
    n_sub = max(1, int(round(dt_s * D.SUBSTEP_HZ)))
    h = dt_s / n_sub
    gain = D.STEERING_GAIN_PER_TICK if steering_gain_per_tick is None else steering_gain_per_tick
    steer_gain = 1.0 - (1.0 - gain) ** (h * D.CONTROL_HZ)
    m_inv, i_inv = 1.0 / D.MASS_KG, 1.0 / D.YAW_INERTIA_KG_M2
    vw = D.wheel_ground_speed(speed_cmd_mps)
    cmd = np.asarray(steering_cmd_rad, np.float64)
    decay = (1.0 - steer_gain) ** np.arange(n_sub + 1)[:, None]
    d_all = cmd + (state.steering_rad - cmd) * decay
    d_mid = 0.5 * (d_all[:-1] + d_all[1:])
    c_all, s_all = np.cos(d_mid), np.sin(d_mid)
    # soft constraint: an impulse p [N s] along a direction lets it slip cfm x p [m/s] (force / C)
    cfm_a = 1.0 / (slip_along_ns_m * h) if slip_along_ns_m else 0.0
    cfm_c = 1.0 / (slip_across_ns_m * h) if slip_across_ns_m else 0.0
    mu = D.FRICTION * np.asarray(grip_scale, np.float64)
    lim_r, lim_f = mu * D.REAR_LOAD_N / 2 * h, mu * D.FRONT_LOAD_N / 2 * h
    lim_rc, lim_fc = across_grip_scale * lim_r, across_grip_scale * lim_f
    xr, yr, xf, yf = D.REAR_ARM_M, HALF_TRACK_REAR_M, D.FRONT_ARM_M, HALF_TRACK_FRONT_M
    # Each contact's direction (dx, dy) in the body frame and its lever arm = x dy - y dx about the centre
    # of mass. Rear (along: (1, 0), arm -y; across: (0, 1), arm x): constants, with their effective masses.
    k_ra = [1.0 / (m_inv + yr * yr * i_inv + cfm_a)] * 2
    k_rc = 1.0 / (m_inv + xr * xr * i_inv + cfm_c)
    # Front (along: (c, s); across: (-s, c)) for each sub-step's steering: arms and effective masses.
    arm_fa = [xf * s_all - yf * c_all, xf * s_all + yf * c_all]          # left, right
    arm_fc = [xf * c_all + yf * s_all, xf * c_all - yf * s_all]
    k_fa = [1.0 / (m_inv + a * a * i_inv + cfm_a) for a in arm_fa]
    k_fc = [1.0 / (m_inv + a * a * i_inv + cfm_c) for a in arm_fc]
    yaw0 = state.yaw
    c0, s0 = np.cos(yaw0), np.sin(yaw0)
    px = state.x + D.COM_AHEAD_M * c0
    py = state.y + D.COM_AHEAD_M * s0
    ch, sh = c0, s0
    yaw = yaw0
    vx = state.speed_mps
    r = state.yaw_rate_rps
    vy = state.lateral_mps + r * D.COM_AHEAD_M
    # impulses (warm start across sub-steps): rear along left/right, rear across left/right, front along
    # left/right, front across left/right
    pra, prc, pfa, pfc = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    for i in range(n_sub):
        cr, sr = D._cos_sin_small(r * h)
        vx, vy = cr * vx + sr * vy, cr * vy - sr * vx
        c, s = c_all[i], s_all[i]
        # warm start: last sub-step's impulses along this sub-step's directions
        fa, fc = pfa[0] + pfa[1], pfc[0] + pfc[1]
        vx = vx + (pra[0] + pra[1] + c * fa - s * fc) * m_inv
        vy = vy + (prc[0] + prc[1] + s * fa + c * fc) * m_inv
        r = r + (yr * (pra[1] - pra[0]) + xr * (prc[0] + prc[1])
                 + arm_fa[0][i] * pfa[0] + arm_fa[1][i] * pfa[1] + arm_fc[0][i] * pfc[0] + arm_fc[1][i] * pfc[1]) * i_inv
        for _ in range(SOLVER_SWEEPS if i else COLD_START_SWEEPS):
            for w, arm in ((0, -yr), (1, yr)):            # rear, along the wheels: ground speed -> wheel speed
                p = pra[w]
                new = D._bound(p - (vx + arm * r - vw + cfm_a * p) * k_ra[w], lim_r)
                dp = new - p
                pra[w] = new
                vx = vx + dp * m_inv
                r = r + arm * dp * i_inv
            for w in (0, 1):                              # rear, across: no sideways slip
                p = prc[w]
                new = D._bound(p - (vy + xr * r + cfm_c * p) * k_rc, lim_rc)
                dp = new - p
                prc[w] = new
                vy = vy + dp * m_inv
                r = r + xr * dp * i_inv
            for w in (0, 1):                              # front, along its wheels
                p, arm = pfa[w], arm_fa[w][i]
                new = D._bound(p - (c * vx + s * vy + arm * r - vw + cfm_a * p) * k_fa[w][i], lim_f)
                dp = new - p
                pfa[w] = new
                vx = vx + c * dp * m_inv
                vy = vy + s * dp * m_inv
                r = r + arm * dp * i_inv
            for w in (0, 1):                              # front, across its wheels
                p, arm = pfc[w], arm_fc[w][i]
                new = D._bound(p - (c * vy - s * vx + arm * r + cfm_c * p) * k_fc[w][i], lim_fc)
                dp = new - p
                pfc[w] = new
                vx = vx - s * dp * m_inv
                vy = vy + c * dp * m_inv
                r = r + arm * dp * i_inv
        ca2, sa2 = D._cos_sin_small(0.5 * r * h)
        cm, sm = ch * ca2 - sh * sa2, sh * ca2 + ch * sa2
        px = px + (vx * cm - vy * sm) * h
        py = py + (vx * sm + vy * cm) * h
        ch, sh = cm * ca2 - sm * sa2, sm * ca2 + cm * sa2
        yaw = yaw + r * h

    return D.store_step(state, mask, px, py, yaw, vx, vy, r, d_all[-1])


def step_dynamics_v5(state: "car.CarState", speed_cmd_mps: np.ndarray, steering_cmd_rad: np.ndarray,
                     dt_s: float = car.STEP_S, mask: np.ndarray | None = None) -> np.ndarray:
    """The car fitted to the Gazebo (v5) car: four contacts and the v5 steering (see the module docstring)."""
    return step_dynamics_four(state, speed_cmd_mps, steering_cmd_rad, dt_s, mask,
                              steering_gain_per_tick=V5_STEERING_GAIN_PER_TICK)


class FourContactCar(NamedTuple):
    """A four-contact car model's fitted figures (the arguments of step_dynamics_four)."""
    slip_along_ns_m: float
    slip_across_ns_m: float
    across_grip_scale: float
    steering_gain_per_tick: float


#: The four-contact car models by name (core.config CAR_DYNAMICS_MODELS).
FOUR_CONTACT_MODELS = {
    "v6-four": FourContactCar(V6_SLIP_ALONG_NS_M, V6_SLIP_ACROSS_NS_M, V6_ACROSS_GRIP_SCALE, D.STEERING_GAIN_PER_TICK),
    "v5": FourContactCar(SLIP_ALONG_NS_M, SLIP_ACROSS_NS_M, 1.0, V5_STEERING_GAIN_PER_TICK)}


def step_dynamics_randomized(model: str, state: "car.CarState", speed_cmd_mps: np.ndarray,
                             steering_cmd_rad: np.ndarray, dt_s: float, mask: np.ndarray | None,
                             steering_gain_per_tick: np.ndarray, grip_scale: np.ndarray) -> np.ndarray:
    """The four-contact car ``model`` (FOUR_CONTACT_MODELS) with each car's own steering response and grip
    (robust training, simulation/robust.py); its slip compliances and grip across the wheels stay the model's."""
    m = FOUR_CONTACT_MODELS[model]
    return step_dynamics_four(state, speed_cmd_mps, steering_cmd_rad, dt_s, mask, slip_along_ns_m=m.slip_along_ns_m,
                              slip_across_ns_m=m.slip_across_ns_m, steering_gain_per_tick=steering_gain_per_tick,
                              grip_scale=grip_scale, across_grip_scale=m.across_grip_scale)


def step_dynamics_v6_four(state: "car.CarState", speed_cmd_mps: np.ndarray, steering_cmd_rad: np.ndarray,
                          dt_s: float = car.STEP_S, mask: np.ndarray | None = None) -> np.ndarray:
    """The car fitted to the DART (v6) car: four contacts, the v6 steering (see the module docstring)."""
    m = FOUR_CONTACT_MODELS["v6-four"]
    return step_dynamics_four(state, speed_cmd_mps, steering_cmd_rad, dt_s, mask,
                              slip_along_ns_m=m.slip_along_ns_m, slip_across_ns_m=m.slip_across_ns_m,
                              across_grip_scale=m.across_grip_scale)
