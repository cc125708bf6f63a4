#!/bin/sh
# Entry point of the Gazebo image: a virtual display for the camera sensors (Mesa software GL), a ROS
# master, then gzserver with our bridge plugin in lockstep mode. The worker connects to
# ROS_MASTER_URI=http://<this container>:11311; ROS_IP (default: this container's address) is the
# address this side's topics are advertised on.
set -e
export ROS_IP="${ROS_IP:-$(hostname -i | cut -d' ' -f1)}"
export ROS_MASTER_URI="${ROS_MASTER_URI:-http://${ROS_IP}:11311}"
# ALSOFT_DRIVERS=null: no sound device to open (gzserver's audio would fill the log with ALSA errors)
export ROS_HOME=/tmp/ros LIBGL_ALWAYS_SOFTWARE=1 ALSOFT_DRIVERS=null
rm -f /tmp/.X99-lock /tmp/.X11-unix/X99   # a restarted container keeps them
Xvfb :99 -screen 0 640x480x24 -nolisten tcp >/tmp/xvfb.log 2>&1 &
export DISPLAY=:99
rosmaster --core -p 11311 >/tmp/rosmaster.log 2>&1 &
for _ in $(seq 100); do
    python3 -c "import xmlrpc.client as x; x.ServerProxy('$ROS_MASTER_URI').getPid('/start')" 2>/dev/null && break
    sleep 0.1
done
echo "gazebo: ROS master at $ROS_MASTER_URI, ROS_IP $ROS_IP" >&2
exec gzserver -u --lockstep ${GAZEBO_ARGS:-} /opt/deepracer/base.world
