# ruff: noqa: E402  (imports follow the start of the clock on purpose)
"""The ten steps as an MLflow tutorial writes them, as a baseline for pdflow.

Usage: python tutorial_script.py DATA.csv TARGET TRACKING_URI

Reads the CSV, makes a stratified 75/25 split, fits a random forest with the
tutorial's defaults, computes accuracy and ROC AUC, logs params, metrics, a
confusion matrix and a ROC curve, and logs + registers the model with MLflow's
defaults (skops format, inferred pip requirements). Prints one JSON line.
"""

import json
import sys
import time

started = time.perf_counter()

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    confusion_matrix,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

data_path, target, tracking_uri = sys.argv[1], sys.argv[2], sys.argv[3]
import_seconds = time.perf_counter() - started

# 1-2. Load the data and split it.
df = pd.read_csv(data_path)
X = df.drop(columns=[target])
y = df[target]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=42, stratify=y
)

# 3-4. Train the model.
params = {"n_estimators": 100, "random_state": 42}
t0 = time.perf_counter()
model = RandomForestClassifier(**params)
model.fit(X_train, y_train)
fit_seconds = time.perf_counter() - t0

# 5. Evaluate.
y_pred = model.predict(X_test)
y_proba = model.predict_proba(X_test)[:, 1]
accuracy = accuracy_score(y_test, y_pred)
roc_auc = roc_auc_score(y_test, y_proba)

# 6-10. Track with MLflow.
t0 = time.perf_counter()
mlflow.set_tracking_uri(tracking_uri)
mlflow.set_experiment("PD_Classification_Experiment")
with mlflow.start_run():
    mlflow.log_params(params)
    mlflow.log_metrics({"accuracy": accuracy, "roc_auc": roc_auc})

    fig, ax = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay(confusion_matrix(y_test, y_pred)).plot(ax=ax)
    ax.set_title("Confusion matrix")
    mlflow.log_figure(fig, "confusion_matrix.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    RocCurveDisplay.from_predictions(y_test, y_proba, ax=ax)
    ax.set_title("ROC curve")
    mlflow.log_figure(fig, "roc_curve.png")
    plt.close(fig)

    mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=X_train.head(5),
        registered_model_name="pd_model_v1",
        skops_trusted_types=["sklearn.tree._tree.Tree", "numpy.dtype"],
    )
mlflow_seconds = time.perf_counter() - t0

print(
    json.dumps(
        {
            "accuracy": accuracy,
            "roc_auc": roc_auc,
            "timings": {
                "import_seconds": round(import_seconds, 3),
                "fit_seconds": round(fit_seconds, 3),
                "mlflow_seconds": round(mlflow_seconds, 3),
            },
        }
    )
)
