"""pdflow: probability-of-default models, tracked, registered and promoted on MLflow.

The command ``pdflow`` is a thin layer over these functions::

    import pdflow
    result = pdflow.train("german", promote=True)
    model = pdflow.load_model(result.model_uri)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pdflow")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

from pdflow.api import list_versions, load_model, promote  # noqa: E402
from pdflow.config import GateConfig  # noqa: E402
from pdflow.data import Dataset, load_dataset, make_synthetic  # noqa: E402
from pdflow.errors import (  # noqa: E402
    ConfigError,
    DataError,
    PdflowError,
    PromotionBlocked,
    RegistryError,
    TrackingError,
)
from pdflow.metrics import evaluate, gini_score, ks_score  # noqa: E402
from pdflow.ratings import MasterScale  # noqa: E402
from pdflow.scoring import predict  # noqa: E402
from pdflow.training import TrainResult, train, tune  # noqa: E402
from pdflow.validating import validate  # noqa: E402

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
