"""Stay on the track and keep away from the next object (AWS object-avoidance example).

Two parts: a lane part (1.0 when all wheels are on the track with 5 cm to spare, else 1e-3) and an
avoidance part that shrinks when the next object ahead is in the car's lane (same side of the
centre line) and closer than 0.8 m. The total weighs avoidance 4x the lane part.
"""

import math


def reward_function(params):
    all_wheels_on_track = params["all_wheels_on_track"]
    distance_from_center = params["distance_from_center"]
    track_width = params["track_width"]
    x, y = params["x"], params["y"]
    is_left_of_center = params["is_left_of_center"]
    objects_location = params["objects_location"]
    objects_left_of_center = params["objects_left_of_center"]
    _, next_object_index = params["closest_objects"]

    reward = 1e-3

    # Reward staying inside the two borders of the track
    if all_wheels_on_track and (0.5 * track_width - distance_from_center) >= 0.05:
        reward_lane = 1.0
    else:
        reward_lane = 1e-3

    # Penalize getting too close to the next object when it is in the same lane
    reward_avoid = 1.0
    if objects_location:  # empty when the race has no objects
        obj_x, obj_y = objects_location[next_object_index]
        distance_closest_object = math.hypot(x - obj_x, y - obj_y)
        is_same_lane = objects_left_of_center[next_object_index] == is_left_of_center
        if is_same_lane:
            if 0.5 <= distance_closest_object < 0.8:
                reward_avoid *= 0.5
            elif 0.3 <= distance_closest_object < 0.5:
                reward_avoid *= 0.2
            elif distance_closest_object < 0.3:
                reward_avoid = 1e-3  # likely crashed

    reward += 1.0 * reward_lane + 4.0 * reward_avoid
    return float(reward)
