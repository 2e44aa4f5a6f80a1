"""pdflow: probability-of-default models, tracked, registered and promoted on MLflow.

The command ``pdflow`` is a thin layer over these functions::

    import pdflow
    result = pdflow.train("german", promote=True)
    model = pdflow.load_model(result.model_uri)
"""

import importlib as _importlib
from importlib import metadata as _metadata
from importlib import util as _util
from typing import TYPE_CHECKING as _TYPE_CHECKING

try:
    __version__ = _metadata.version("pdflow")
except _metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
    __version__ = "0+unknown"

if _TYPE_CHECKING:  # what __getattr__ gives, for type checkers and editors
    from pdflow.api import list_versions, load_model, promote
    from pdflow.config import GateConfig
    from pdflow.data import Dataset, load_dataset, make_synthetic
    from pdflow.errors import (
        ConfigError,
        DataError,
        PdflowError,
        PromotionBlocked,
        RegistryError,
        TrackingError,
    )
    from pdflow.metrics import evaluate, gini_score, ks_score
    from pdflow.ratings import MasterScale
    from pdflow.scoring import predict
    from pdflow.training import TrainResult, train, tune
    from pdflow.validating import validate

# The public names, each with the module that defines it. They are imported on
# first use (PEP 562), so that ``import pdflow`` is cheap and the ``pdflow``
# command can set up the interpreter before MLflow and scikit-learn load.
_EXPORTS = {
    "list_versions": "pdflow.api",
    "load_model": "pdflow.api",
    "promote": "pdflow.api",
    "GateConfig": "pdflow.config",
    "Dataset": "pdflow.data",
    "load_dataset": "pdflow.data",
    "make_synthetic": "pdflow.data",
    "ConfigError": "pdflow.errors",
    "DataError": "pdflow.errors",
    "PdflowError": "pdflow.errors",
    "PromotionBlocked": "pdflow.errors",
    "RegistryError": "pdflow.errors",
    "TrackingError": "pdflow.errors",
    "evaluate": "pdflow.metrics",
    "gini_score": "pdflow.metrics",
    "ks_score": "pdflow.metrics",
    "MasterScale": "pdflow.ratings",
    "predict": "pdflow.scoring",
    "TrainResult": "pdflow.training",
    "train": "pdflow.training",
    "tune": "pdflow.training",
    "validate": "pdflow.validating",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(module), name)
    elif not name.startswith("_") and _util.find_spec(f"pdflow.{name}"):
        value = _importlib.import_module(f"pdflow.{name}")  # pdflow.batch, ...
    else:
        raise AttributeError(f"module 'pdflow' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "GateConfig",
    "MasterScale",
    "PdflowError",
    "PromotionBlocked",
    "RegistryError",
    "TrackingError",
    "TrainResult",
    "evaluate",
    "gini_score",
    "ks_score",
    "list_versions",
    "load_dataset",
    "load_model",
    "make_synthetic",
    "predict",
    "promote",
    "train",
    "tune",
    "validate",
]
