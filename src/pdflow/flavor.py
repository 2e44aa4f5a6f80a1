"""How pdflow saves a model for MLflow: scikit-learn inside, the PD outside.

A pdflow model directory is an ordinary ``sklearn`` flavor model, so
``mlflow.sklearn.load_model`` hands back the fitted estimator with its
``predict_proba``. Its ``python_function`` flavor is pdflow's own: the pyfunc
answers every row with ``pd`` (the probability of default) first, then
``grade``, ``score`` and ``reason_1`` to ``reason_3``. So
``mlflow.pyfunc.load_model(uri).predict(df)``, ``mlflow models serve`` and
``mlflow.pyfunc.spark_udf`` all give the PD without the caller picking a
column. pdflow's source travels with the model (MLflow's ``code_paths``), so
the model loads wherever MLflow and the pinned requirements are installed.

Use it through :func:`log_model`, which hands this module to
``mlflow.models.Model.log`` as the flavor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import Model

FLAVOR_NAME = "pdflow"
SETTINGS_FILE = "pdflow.json"


def log_model(model, *, name: str = "model", settings: dict[str, Any], **kwargs):
    """Log ``model`` to the active run in pdflow's flavor; returns MLflow's info.

    ``settings`` holds what scoring needs besides the estimator (master scale,
    points scaling, reference values for reasons); ``kwargs`` go to
    ``mlflow.sklearn.save_model`` (signature, input example, requirements,
    serialization format, trusted types).
    """
    import pdflow.flavor as flavor  # the module itself is the flavor

    # MLflow would reload the model it just saved to try the input example;
    # pdflow's tests load every family in a fresh process instead, and a
    # training is spared a second deserialisation.
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=flavor,
        flavor_name=FLAVOR_NAME,
        pd_model=model,
        settings=settings,
        validate_serving_input=False,
        **kwargs,
    )


def save_model(
    pd_model, path, mlflow_model: Model | None = None, *, settings, **kwargs
):
    """Save as the sklearn flavor, then make the pyfunc pdflow's."""
    mlflow_model = mlflow_model or Model()
    kwargs.pop("validate_serving_input", None)  # Model.log's, not sklearn's
    package = Path(__file__).resolve().parent
    mlflow.sklearn.save_model(
        pd_model,
        path,
        mlflow_model=mlflow_model,
        code_paths=[str(package)],
        pyfunc_predict_fn="predict_proba",
        **kwargs,
    )
    Path(path, SETTINGS_FILE).write_text(json.dumps(settings, indent=2, default=str))
    pyfunc = mlflow_model.flavors["python_function"]
    pyfunc["loader_module"] = __name__
    pyfunc["predict_fn"] = "predict"  # PDPredictor.predict, not the estimator's
    mlflow_model.add_flavor(FLAVOR_NAME, settings=SETTINGS_FILE)
    mlflow_model.save(str(Path(path, "MLmodel")))


def _load_pyfunc(path: str, model_config=None) -> PDPredictor:
    """Called by ``mlflow.pyfunc.load_model``: the estimator behind a PD scorer."""
    from mlflow.sklearn import _load_pyfunc as load_sklearn

    model_dir = Path(path).parent if Path(path).is_file() else Path(path)
    settings = json.loads((model_dir / SETTINGS_FILE).read_text())
    return PDPredictor(load_sklearn(str(path)).sklearn_model, settings)


class PDPredictor:
    """The pyfunc of a pdflow model: PD, grade, score and reasons per row.

    ``params={"reasons": False}`` leaves the reason columns empty, for
    throughput when no explanation is needed.
    """

    def __init__(self, model, settings: dict[str, Any]) -> None:
        from pdflow.scoring import PDScorer

        self.model = model
        self.scorer = PDScorer.from_settings(model, settings)

    def predict(self, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        from pdflow.errors import DataError

        reasons = True if not params else bool(params.get("reasons", True))
        try:
            return self.scorer.score(model_input, reasons=reasons)
        except DataError as exc:  # a client's mistake: HTTP 400, not 500
            raise MlflowException(
                str(exc), error_code=INVALID_PARAMETER_VALUE
            ) from None

    def get_raw_model(self):
        return self.model
