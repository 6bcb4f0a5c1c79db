"""`ServingState`: what the app's routes and its fast lane share. A module of its own, so that app.factory
(which builds the app) and app.fastlane (which serves its hot path) both import it and neither the other."""

from __future__ import annotations

from app.errors import ApiError
from app.inference import DigitModel
from app.metrics import AppMetrics
from app.settings import Settings

STATE_KEY = "digits"  # app.extensions[STATE_KEY] is the ServingState


class ServingState:
    """What the routes share: settings, metrics and the model (None until loaded: /readyz answers 503)."""

    def __init__(self, settings: Settings, metrics: AppMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: DigitModel | None = None

    def load_model(self) -> DigitModel:
        """Load and verify the model from settings.model_dir; raises model.errors.ModelError."""
        self.model = DigitModel.load(self.settings.model_dir)
        return self.model

    def require_model(self) -> DigitModel:
        if self.model is None:
            raise ApiError(
                503, "not_ready", "the model is not loaded yet; retry when GET /readyz answers 200"
            )
        return self.model
