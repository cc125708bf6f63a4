"""deepracer-local from Python and Jupyter: the functions the command line and the Make targets run,
with pandas DataFrames and matplotlib figures for results.

    from deepracer_local import Model, Scenario, compare

    model = Model("my-model")
    model.train(track="reinvent_base", preset="state", minutes=5)   # a progress bar, one row per iteration
    trials = model.evaluate(trials=3)                                 # a DataFrame, one row per trial
    model.report()                                                    # the report's figures

A wrong argument raises ``UserError`` with the command line's one-line message; in IPython and Jupyter
it shows as that line, not a traceback.
"""

from .api import Comparison, Model, Scenario, UserError, compare, scale, tracks

__all__ = ["Comparison", "Model", "Scenario", "UserError", "compare", "scale", "tracks"]
