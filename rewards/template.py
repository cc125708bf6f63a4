"""A starting point: every params key, named and explained, and a simple reward to change.

Copy this file, keep the keys you use, and write your own reward. Positions are in metres in the
track's frame; angles of the car are in degrees, counter-clockwise positive, 0 = +x axis. The
reference point (x, y, distance_from_center, progress, closest_waypoints) is 0.14 m ahead of the
car's origin along its heading. The reward returned must be a finite number with |r| <= 1e5.

The reward below: follow the centre line (1.0 near it, falling to 0 at the border), avoid heavy
steering, and 1e-3 when off the track or crashed.
"""

import math  # noqa: F401  (most reward functions need it)


def reward_function(params):
    # Car state
    all_wheels_on_track = params["all_wheels_on_track"]    # bool: all four wheels inside the track
    x = params["x"]                                        # float, m: reference point x
    y = params["y"]                                        # float, m: reference point y
    heading = params["heading"]                            # float, deg in (-180, 180]: car yaw
    distance_from_center = params["distance_from_center"]  # float, m: reference point to centre line
    is_left_of_center = params["is_left_of_center"]        # bool: left of the centre line (driving direction)
    is_offtrack = params["is_offtrack"]                    # bool: all four wheels off (episode ends)
    is_crashed = params["is_crashed"]                      # bool: car hit an object (episode ends)
    is_reversed = params["is_reversed"]                    # bool: driving against the waypoint order
    speed = params["speed"]                                # float, m/s: commanded speed of the action
    steering_angle = params["steering_angle"]              # float, deg: commanded steering, positive = left

    # Progress
    progress = params["progress"]                          # float, percent 0-100 of the lap since the start point
    steps = params["steps"]                                # number: steps this episode, 1 on the first call
    projection_distance = params["projection_distance"]    # float, m: arc length of the reference point on the centre line
    sim_time = params["sim_time"]                          # float, s: simulation clock

    # Track
    track_width = params["track_width"]                    # float, m: local track width
    track_length = params["track_length"]                  # float, m: centre-line length
    waypoints = params["waypoints"]                        # list of (x, y) in m: centre line, driving order
    closest_waypoints = params["closest_waypoints"]        # [int, int]: waypoint indices just behind, just ahead

    # Objects (empty lists / zeros when the race has none)
    closest_objects = params["closest_objects"]            # [int, int]: object indices behind, ahead
    objects_location = params["objects_location"]          # list of (x, y) in m
    objects_left_of_center = params["objects_left_of_center"]  # list of bool
    objects_distance = params["objects_distance"]          # list of float, m: arc length of each object's projection
    objects_distance_from_center = params["objects_distance_from_center"]  # list of float, m
    objects_heading = params["objects_heading"]            # list of float: object yaw (radians; 0 for boxes)
    objects_speed = params["objects_speed"]                # list of float, m/s
    object_in_camera = params["object_in_camera"]          # bool: next object inside the camera view

    if is_offtrack or is_crashed or not all_wheels_on_track:
        return 1e-3

    # 1.0 on the centre line, falling linearly to 0 at the border
    half_width = 0.5 * track_width
    reward = max(1e-3, 1.0 - distance_from_center / half_width)

    # Discourage heavy steering (zig-zag)
    if abs(steering_angle) > 15.0:
        reward *= 0.8

    return float(reward)
