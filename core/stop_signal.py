"""``docker stop`` (and ``make down``, ``docker compose down``, ``docker stack rm``) sends SIGTERM, waits 10 s,
then SIGKILL. A Python program that is a container's first process (PID 1) never sees the SIGTERM: the kernel
drops a signal to PID 1 that has no handler, and Python installs none for SIGTERM. So every stop of the
trainer, a sim or the viewer took the full 10 s and ended in a SIGKILL.

``leave_on_sigterm`` installs the handler: SIGTERM raises SystemExit(143) (128 + 15, a shell's code for it)
where the program is, so ``finally`` blocks and context managers run (the trainer's model lease and a sim's
Gazebo claim are released at once) and the process leaves within a second. It is a kill, not a Ctrl-C: the
trainer does not tell the sims to stop and does not mark the model finished, so a trainer that Docker starts
again resumes from the last checkpoint and its waiting sims play on, as after a SIGKILL; the checkpoint
protocol (core.model_folder) keeps the last published checkpoint whole either way.
"""

from __future__ import annotations

import signal
import sys

#: The exit code of a process that left on SIGTERM.
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def leave_on_sigterm(what: str) -> None:
    """On SIGTERM, say so on stderr (``what``: the process, e.g. "trainer") and raise SystemExit(143) in the main
    thread. Call it from the main thread of a program's ``main``."""

    def handler(_signum, _frame) -> None:
        print(f"{what}: SIGTERM (docker stop): leaving now", file=sys.stderr, flush=True)
        raise SystemExit(SIGTERM_EXIT_CODE)

    signal.signal(signal.SIGTERM, handler)
