"""The ``pdflow`` command, also run as ``python -m pdflow``.

A command imports MLflow, scikit-learn, pandas and matplotlib before it does
anything: about half a million objects, which the cyclic garbage collector would
scan again and again while they load (0.5 s of a 3 s import here) and then on
every full collection after. None of them is garbage, so the collector is off
while :mod:`pdflow.cli` loads and what loaded is then frozen out of its view
(:func:`gc.freeze`); objects the command makes afterwards are collected as usual.
"""

import gc


def run() -> None:
    """Import the command line with the collector paused, then run it."""
    gc.disable()
    try:
        from pdflow import cli
    finally:
        gc.freeze()
        gc.enable()
    cli.run()


if __name__ == "__main__":
    run()
