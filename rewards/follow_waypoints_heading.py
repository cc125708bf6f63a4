"""Point the car along the track (AWS "direction" example).

The track direction is the angle of the segment between the two closest waypoints (behind and
ahead of the car). Rewards 1.0, halved when the car's heading differs from it by more than 10
degrees.
"""

import math

DIRECTION_THRESHOLD = 10.0  # degrees


def reward_function(params):
    waypoints = params["waypoints"]
    closest_waypoints = params["closest_waypoints"]
    heading = params["heading"]

    reward = 1.0

    # Direction of the centre line at the car, from the waypoint behind to the one ahead
    next_point = waypoints[closest_waypoints[1]]
    prev_point = waypoints[closest_waypoints[0]]
    track_direction = math.degrees(
        math.atan2(next_point[1] - prev_point[1], next_point[0] - prev_point[0]))

    # Difference between the track direction and the heading, in [0, 180]
    direction_diff = abs(track_direction - heading)
    if direction_diff > 180:
        direction_diff = 360 - direction_diff

    if direction_diff > DIRECTION_THRESHOLD:
        reward *= 0.5

    return float(reward)
