"""MLflow "model from code" for the Triage classifier (registered by ``model.registry.register_artifact``).

``mlflow.pyfunc.load_model("models:/triage-classifier@challenger").predict(df)`` scores a DataFrame with
a ``text`` column with the ONNX scorer (no torch). The artifact folder travels as the ``artifact``
artifact; serving downloads that folder and uses ``model.scorer.Scorer`` directly.
"""

from pathlib import Path

import mlflow.models
import mlflow.pyfunc


class TriagePyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def load_context(self, context):  # type: ignore[no-untyped-def]
        from model.scorer import Scorer

        self.scorer = Scorer(Path(context.artifacts["artifact"]))

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pandas as pd

        rows = []
        for score in self.scorer.score([str(t) for t in model_input["text"]]):
            rows.append({"tier": score.tier, "areas": ",".join(score.areas),
                         **{f"p_{k}": v for k, v in score.tier_probs.items()},
                         **{f"p_area_{k}": v for k, v in score.area_probs.items()}})
        return pd.DataFrame(rows)


mlflow.models.set_model(TriagePyfunc())
