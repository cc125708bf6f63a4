"""The Gazebo backend: the reference's v5 kind of simulator (Gazebo 11 classic, ODE, ROS 1) driven by a
sim worker in lockstep, one 1/15 s frame per step.

- ``world``: the track world (road, lines, centre dashes, field, walls) and the car as SDF + OBJ meshes,
  made from a track file and the car facts of docs/gazebo-v5-facts.md.
- ``client``: the ROS 1 client of the bridge plugin in images/gazebo (rospy, imported on first use).
- ``env``: ``GazeboEnv``, a BatchedEnv whose cars move in Gazebo and whose cameras are Gazebo's frames;
  episodes, reward params and statuses come from the same code as the fast simulator.
"""
