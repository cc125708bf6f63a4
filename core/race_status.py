"""Episode status strings: the one home of the DeepRacer names (spec section 4) and their display forms.

Arrays of statuses (one per car) hold the integer index of a status in ``STATUSES``.
"""

from __future__ import annotations

STATUSES: tuple[str, ...] = (
    "in_progress", "lap_complete", "off_track", "crashed", "reversed", "immobilized", "time_up",
    "pause", "park", "prepare",
)
IN_PROGRESS, LAP_COMPLETE, OFF_TRACK, CRASHED, REVERSED, IMMOBILIZED, TIME_UP, PAUSE, PARK, PREPARE = range(len(STATUSES))

#: The form the reference writes in metrics JSON (`episode_status`).
DISPLAY: dict[str, str] = {
    "in_progress": "In progress", "lap_complete": "Lap complete", "off_track": "Off track",
    "crashed": "Crashed", "reversed": "Reversed", "immobilized": "Immobilized", "time_up": "Time Up",
    "pause": "Pause", "park": "Park", "prepare": "Prepare",
}


def status_name(code: int) -> str:
    return STATUSES[int(code)]
