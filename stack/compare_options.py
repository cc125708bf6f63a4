"""The options of `deepracer-local compare`, in a module light enough for the CLI to build its parser
without loading the plotting libraries (stack.compare does the work)."""

from __future__ import annotations

import argparse


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `deepracer-local compare` (the models by name; a scenario adds its own)."""
    p.add_argument("--models", help="comma-separated model names (folders under models/ or in the stack's bucket)")
    p.add_argument("--tracks", help="comma-separated tracks every model drives; default: the tracks the models "
                                    "trained on")
    p.add_argument("--held-out", default="", help="comma-separated extra tracks, marked held out in the report")
    p.add_argument("--trials", type=int, default=3, help="evaluation laps per model and track")
    p.add_argument("--checkpoint", default="best", help="best, last or a number (each model's own)")
    p.add_argument("--out", help="output folder; default out/compare-<title or model names>")
    p.add_argument("--title", default="", help="the report's title")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation noise")
    p.add_argument("--models-dir", help="where model folders live (default models/)")
    p.add_argument("--stack", action="store_true", help="the models in the compose stack's bucket (make up)")
