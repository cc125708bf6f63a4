"""Go fast and make progress while staying on the track.

Off the track (or any wheel off): 1e-3. On it: a centre-line term in [0, 1], plus a speed term
(speed / 4 m/s) squared, plus the progress made per step (percent of a lap per step, so a quicker
lap scores higher), scaled so a ~200-step lap earns about 1 per step from it. Finishing the lap
adds a bonus of 10.
"""

MAX_SPEED = 4.0  # m/s, the simulator's speed limit


def reward_function(params):
    if params["is_offtrack"] or not params["all_wheels_on_track"]:
        return 1e-3

    distance_from_center = params["distance_from_center"]
    track_width = params["track_width"]
    speed = params["speed"]
    progress = params["progress"]
    steps = max(params["steps"], 1)

    centre = max(0.0, 1.0 - distance_from_center / (0.5 * track_width))
    fast = (speed / MAX_SPEED) ** 2
    progress_per_step = progress / steps  # percent of a lap per step

    reward = 0.5 * centre + fast + 2.0 * progress_per_step
    if progress >= 100:
        reward += 10.0

    return float(reward)
