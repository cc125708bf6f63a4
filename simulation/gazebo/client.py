"""The ROS 1 client of the Gazebo bridge plugin (images/gazebo/bridge/deepracer_bridge.cc).

Standard message types only (std_msgs, sensor_msgs), namespace ``/deepracer``: ``world`` (JSON in a
String), ``command`` (Float64MultiArray [seq, op, ...]), replies ``events`` (JSON), ``camera`` (Image,
frame_id "<seq> <camera>"), ``lidar`` (LaserScan, frame_id "<seq> lidar") and ``state`` (Float64MultiArray,
see STATE_FIELDS). One client per process:
rospy keeps one node per process, bound to one ROS master (one Gazebo container).

rospy comes from Debian's packages (python3-rospy, python3-std-msgs, python3-sensor-msgs), which the
app image carries; it is imported on first use, so nothing else in the project needs it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

#: The bridge's state message, field by field (angles [rad], velocities in the world frame [m/s, rad/s],
#: wheel speeds [rad/s]; extra_steps: physics steps beyond the frame grid; wall_ms: the bridge's time).
STATE_FIELDS = ("seq", "sim_time_s", "x", "y", "z", "roll", "pitch", "yaw", "vx", "vy", "vz", "wx", "wy", "wz",
                "steer_left", "steer_right", "w_left_rear", "w_right_rear", "w_left_front", "w_right_front",
                "extra_steps", "wall_ms")
OP_STEP, OP_POSE = 1.0, 2.0


class GazeboError(RuntimeError):
    """The Gazebo sim could not be reached or refused a request; the message says which and what to do."""


@dataclass
class GazeboStep:
    """One frame of the Gazebo sim: the car's state (STATE_FIELDS), each camera's RGB frame (H, W, 3) and
    the ray sensor's latest scan (64,) [m] in Gazebo's beam order (None without one)."""

    state: dict[str, float]
    frames: list[np.ndarray]
    lidar: np.ndarray | None = None


def _import_rospy():
    try:
        import rospy
        from sensor_msgs.msg import Image, LaserScan
        from std_msgs.msg import Float64MultiArray, String
    except ImportError as e:
        raise GazeboError(
            f"SIM_BACKEND=gazebo needs ROS 1's Python client ({e}); it comes with the app image "
            "(images/Dockerfile), or on Debian 12: apt install python3-rospy python3-std-msgs "
            "python3-sensor-msgs, with a venv made with --system-site-packages") from None
    return rospy, Image, LaserScan, Float64MultiArray, String


def _host_port(master_uri: str) -> tuple[str, int]:
    """(host, port) of a ROS master URI such as http://sim-gazebo:11311 (port 11311 when left out)."""
    u = urlsplit(master_uri if "//" in master_uri else f"http://{master_uri}")
    try:
        port = u.port or 11311
    except ValueError:
        raise GazeboError(f"GAZEBO_MASTER_URI {master_uri!r} has no valid port (like http://sim-gazebo:11311)") from None
    if not u.hostname:
        raise GazeboError(f"GAZEBO_MASTER_URI {master_uri!r} names no host (like http://sim-gazebo:11311)")
    return u.hostname, port


def _own_ip_towards(master_uri: str) -> str:
    """The address of this host on the route to the ROS master (what the bridge must connect back to)."""
    host = _host_port(master_uri)[0]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((socket.gethostbyname(host), 11311))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


class GazeboClient:
    """Talks to one Gazebo sim (its ROS master at ``master_uri``, e.g. http://sim-gazebo:11311)."""

    _node_started = False

    def __init__(self, master_uri: str, timeout_s: float = 120.0):
        self.master_uri = master_uri
        self.timeout_s = float(timeout_s)
        self._wait_for_master()
        os.environ["ROS_MASTER_URI"] = master_uri
        os.environ.setdefault("ROS_IP", _own_ip_towards(master_uri))
        rospy, Image, LaserScan, Float64MultiArray, String = _import_rospy()
        self._rospy, self._Float64MultiArray, self._String = rospy, Float64MultiArray, String
        if not GazeboClient._node_started:
            rospy.init_node(f"deepracer_worker_{os.getpid()}", anonymous=True, disable_signals=True)
            GazeboClient._node_started = True
        self._cond = threading.Condition()
        self._events: list[dict] = []
        self._states: dict[int, np.ndarray] = {}
        self._frames: dict[int, dict[int, np.ndarray]] = {}
        self.cameras = 0
        self.lidars = 0
        self._scans: dict[int, np.ndarray] = {}
        self.step_size_s = float("nan")   # the physics step [s], known once a world is loaded
        self._seq = 0
        self._subs = [rospy.Subscriber("/deepracer/events", String, self._on_event, queue_size=16),
                      rospy.Subscriber("/deepracer/state", Float64MultiArray, self._on_state, queue_size=16),
                      rospy.Subscriber("/deepracer/lidar", LaserScan, self._on_scan, queue_size=8),
                      rospy.Subscriber("/deepracer/camera", Image, self._on_image, queue_size=8,
                                       buff_size=8 * 2**20)]
        self._world_pub = rospy.Publisher("/deepracer/world", String, queue_size=2)
        self._command_pub = rospy.Publisher("/deepracer/command", Float64MultiArray, queue_size=16)
        # the bridge subscribes once its plugin is loaded (its latched events topic keeps only the last
        # message, so a second client would not see the "ready" one)
        self._wait(lambda: self._world_pub.get_num_connections() > 0
                   and self._command_pub.get_num_connections() > 0, "the bridge to subscribe")

    # ------------------------------------------------------------------ plumbing
    def _wait_for_master(self) -> None:
        host, port = _host_port(self.master_uri)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                socket.create_connection((host, port), timeout=2).close()
                return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise GazeboError(f"no Gazebo sim (ROS master) answers at {self.master_uri} after "
                                      f"{self.timeout_s:.0f} s ({e}); start it (compose service sim-gazebo) "
                                      "or set GAZEBO_MASTER_URI") from None
                time.sleep(0.5)

    def _wait(self, cond, what: str, timeout_s: float | None = None):
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        with self._cond:
            while not cond():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GazeboError(f"timed out waiting for {what} from the Gazebo sim at {self.master_uri}")
                self._cond.wait(min(left, 0.5))

    def _on_event(self, msg) -> None:
        with self._cond:
            self._events.append(json.loads(msg.data))
            self._cond.notify_all()

    def _on_state(self, msg) -> None:
        data = np.asarray(msg.data, dtype=np.float64)
        with self._cond:
            self._states[int(data[0])] = data
            self._cond.notify_all()

    def _on_scan(self, msg) -> None:
        seq = int(msg.header.frame_id.split()[0])
        ranges = np.asarray(msg.ranges, np.float32)
        with self._cond:
            self._scans[seq] = ranges
            self._cond.notify_all()

    def _on_image(self, msg) -> None:
        seq, cam = (int(v) for v in msg.header.frame_id.split())
        frame = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
        with self._cond:
            self._frames.setdefault(seq, {})[cam] = frame
            self._cond.notify_all()

    # ------------------------------------------------------------------ requests
    def load_world(self, message_json: str, request_id: str) -> dict:
        """Send a world (simulation.gazebo.world.WorldBundle.message) and wait until it is built."""
        request = json.loads(message_json)
        self.cameras = int(request.get("cameras", 0))
        self.lidars = int(request.get("lidars", 0))
        self._world_pub.publish(self._String(data=message_json))
        self._wait(lambda: any(e.get("id") == request_id for e in self._events), f"world {request_id!r}")
        reply = next(e for e in self._events if e.get("id") == request_id)
        if not reply.get("ok"):
            raise GazeboError(f"the Gazebo sim could not build world {request_id!r}: {reply.get('error')}")
        self.step_size_s = float(reply["step_size_s"])
        return reply

    def _request(self, op: float, *args: float) -> GazeboStep:
        self._seq += 1
        seq = self._seq
        self._command_pub.publish(self._Float64MultiArray(data=[float(seq), op, *map(float, args)]))

        def done():
            errors = [e for e in self._events if e.get("seq") == seq]
            return bool(errors) or (seq in self._states and len(self._frames.get(seq, {})) >= self.cameras
                                    and (seq in self._scans or not self.lidars))

        self._wait(done, f"step {seq}")
        with self._cond:
            errors = [e for e in self._events if e.get("seq") == seq]
            if errors:
                raise GazeboError(f"the Gazebo sim refused step {seq}: {errors[0].get('error')}")
            state = self._states.pop(seq)
            frames = self._frames.pop(seq, {})
            scan = self._scans.pop(seq, None)
            for old in [s for s in self._frames if s < seq]:
                del self._frames[old]
            for old in [s for s in self._scans if s < seq]:
                del self._scans[old]
        return GazeboStep(dict(zip(STATE_FIELDS, state.tolist())), [frames[i] for i in sorted(frames)], scan)

    def step(self, steering_rad: float, wheel_speed_rad_s: float, objects: np.ndarray | None = None) -> GazeboStep:
        """Command both steering hinges and all four wheels, advance one 1/15 s frame. ``objects``: (M, 3)
        x, y [m], yaw [rad] of each of the world's objects (WorldBundle.objects order), placed first."""
        return self._request(OP_STEP, steering_rad, wheel_speed_rad_s, *_flat(objects))

    def set_pose(self, x_m: float, y_m: float, yaw_rad: float, objects: np.ndarray | None = None) -> GazeboStep:
        """Put the car at rest at (x, y, yaw) with zero commands (and the objects as in ``step``), then
        advance one frame."""
        return self._request(OP_POSE, x_m, y_m, yaw_rad, *_flat(objects))


def _flat(objects: np.ndarray | None) -> list[float]:
    return [] if objects is None else np.asarray(objects, np.float64).reshape(-1).tolist()
