"""The errors a user can act on: what the command line prints as one line (exit 2) and the Python API
raises as one ``deepracer_local.UserError`` instead of a traceback. One home for both."""

from __future__ import annotations


def user_error_types() -> tuple[type[BaseException], ...]:
    """A wrong file, key, track name, credential or a dead service: the message names the thing and
    what is allowed (imports here are lazy: the classes live beside the code that raises them)."""
    from core.config import ConfigError
    from core.storage import StorageError, StorageKeyError
    from core.transport import TransportError
    from simulation.dart import DartError
    from simulation.gazebo.client import GazeboError
    from simulation.track_sources import UnknownTrackError

    return (UnknownTrackError, ConfigError, ValueError, FileNotFoundError, StorageKeyError, StorageError,
            TransportError, GazeboError, DartError)


def run_stopping_types() -> tuple[type[BaseException], ...]:
    """A fault of the user's reward function, or one a sim reported: training stopped (exit 1)."""
    from core.messages import WorkerFault
    from simulation.reward import RewardFunctionError

    return (RewardFunctionError, WorkerFault)


def run_stopping_title(exc: BaseException) -> str:
    """The line the command line prints above a run-stopping error's message."""
    from simulation.reward import RewardFunctionError

    return "reward function error" if isinstance(exc, RewardFunctionError) else "training stopped: a sim reported"
