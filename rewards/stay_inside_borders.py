"""Stay inside the two borders (AWS example).

Rewards 1.0 while all four wheels are on the track and the car keeps at least 5 cm between its
reference point and the border; 1e-3 otherwise. No preference for any line inside the borders.
"""


def reward_function(params):
    all_wheels_on_track = params["all_wheels_on_track"]
    distance_from_center = params["distance_from_center"]
    track_width = params["track_width"]

    reward = 1e-3
    # Margin between the car and the nearest border, in metres
    if all_wheels_on_track and (0.5 * track_width - distance_from_center) >= 0.05:
        reward = 1.0

    return float(reward)
