"""The default DeepRacer reward ("follow the center line", the AWS console's first example).

Rewards staying near the centre line: three bands at 10 %, 25 % and 50 % of the track width
around it give 1.0, 0.5 and 0.1; anything further out (likely off track) gives 1e-3.
"""


def reward_function(params):
    track_width = params["track_width"]
    distance_from_center = params["distance_from_center"]

    # Three markers at increasing distance from the centre line
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
        reward = 1e-3  # likely crashed / close to off track

    return float(reward)
