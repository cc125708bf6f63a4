"""The learner's numeric precision: float32, or mixed bfloat16 where the hardware computes it natively.

Mixed precision (Keras dtype policy ``mixed_bfloat16``) keeps every variable, the optimizer state,
the heads (logits, mean, value, Q) and the losses in float32 and runs the hidden layers (convolutions,
Dense) in bfloat16. Checkpoints are the same float32 variables either way, so a model moves freely
between machines and precisions; the exported ``model.pb`` is always built in float32
(trainer.export), so the car and the workers never see bfloat16.

``DEEPRACER_PRECISION`` (environment) chooses: ``auto`` (the default), ``float32`` or
``mixed_bfloat16``. ``auto`` picks mixed bfloat16 for networks with a camera when the machine has
native bfloat16 arithmetic (a GPU of compute capability 8.0 or later, or a CPU with AVX512-BF16 or
AMX-BF16) and float32 otherwise: on a CPU without them bfloat16 is emulated and slower, and the small
STATE and lidar networks gain nothing from it (`deepracer-local bench ppo` measures both).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from core.config import CAMERA_SENSORS, ConfigError, ModelMetadata

PRECISION_ENV = "DEEPRACER_PRECISION"
FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
PRECISIONS = (FLOAT32, MIXED_BFLOAT16)
"""The precisions a learner can run in (Keras dtype policy names)."""
AUTO = "auto"
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of native bfloat16 arithmetic on x86."""
GPU_BF16_MIN_CAPABILITY = (8, 0)
"""Compute capability from which NVIDIA GPUs have bfloat16 tensor cores (Ampere)."""


@lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """True when the device TensorFlow trains on computes bfloat16 natively (see the module doc)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return tuple(capability) >= GPU_BF16_MIN_CAPABILITY
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def resolve_precision(metadata: ModelMetadata, requested: str | None = None) -> str:
    """The precision a learner for ``metadata`` runs in: ``requested`` if given, else
    ``DEEPRACER_PRECISION``, else auto; ConfigError naming the allowed values for anything else."""
    choice = (requested if requested is not None else os.environ.get(PRECISION_ENV, AUTO)).strip()
    if choice == AUTO:
        has_camera = any(s in CAMERA_SENSORS for s in metadata.sensors)
        return MIXED_BFLOAT16 if has_camera and native_bfloat16() else FLOAT32
    if choice not in PRECISIONS:
        raise ConfigError(f"{PRECISION_ENV}={choice!r} is not one of {', '.join((AUTO,) + PRECISIONS)}")
    return choice


__all__ = ["PRECISIONS", "FLOAT32", "MIXED_BFLOAT16", "AUTO", "PRECISION_ENV", "native_bfloat16", "resolve_precision"]
