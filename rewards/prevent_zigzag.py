"""Follow the centre line without zig-zagging (AWS example).

The centre-line bands of the default reward (1.0 / 0.5 / 0.1 / 1e-3), multiplied by 0.8 whenever
the commanded steering exceeds 15 degrees either way, to discourage needless steering.
"""

ABS_STEERING_THRESHOLD = 15.0  # degrees


def reward_function(params):
    distance_from_center = params["distance_from_center"]
    track_width = params["track_width"]
    abs_steering = abs(params["steering_angle"])  # only the magnitude matters

    marker_1 = 0.1 * track_width
    marker_2 = 0.25 * track_width
    marker_3 = 0.5 * track_width

    if distance_from_center <= marker_1:
        reward = 1.0
    elif distance_from_center <= marker_2:
        reward = 0.5
    elif distance_from_center <= marker_3:
        reward = 0.1
    else:
        reward = 1e-3

    # Penalize steering too much
    if abs_steering > ABS_STEERING_THRESHOLD:
        reward *= 0.8

    return float(reward)
