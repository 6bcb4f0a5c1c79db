"""`ServingState`: what the app's routes and its fast lane share. A module of its own, so that app.factory
(which builds the app) and app.fastlane (which serves its hot path) both import it and neither the other."""

from __future__ import annotations

from app.errors import ApiError
from app.inference import ServedModel
from app.metrics import AppMetrics
from app.settings import Settings
from app.signing_keys import SigningKeys

STATE_KEY = "digits"  # app.extensions[STATE_KEY] is the ServingState


class ServingState:
    """What the routes share: settings, metrics, the model (None until loaded: /readyz answers 503) and, with
    sign-in on, the issuer's signing keys (not ready until first fetched: /readyz answers 503 too)."""

    def __init__(self, settings: Settings, metrics: AppMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: ServedModel | None = None
        self.keys = SigningKeys(settings.auth) if settings.auth is not None else None

    def not_ready(self) -> str | None:
        """Why the app cannot serve yet, or None when it can."""
        if self.model is None:
            return "the model is not loaded yet"
        if self.keys is not None and not self.keys.ready:
            return f"sign-in is not ready: {self.keys.problem}"
        return None

    def load_model(self) -> ServedModel:
        """Load and verify the model from settings.model_dir; raises model.errors.ModelError."""
        self.model = ServedModel.load(self.settings.model_dir)
        return self.model

    def require_model(self) -> ServedModel:
        if self.model is None:
            raise ApiError(
                503, "not_ready", "the model is not loaded yet; retry when GET /readyz answers 200"
            )
        return self.model

    def require_digits_model(self) -> ServedModel:
        """The model, for /v1/predict: only a model with the digits interface has that route."""
        model = self.require_model()
        if not model.digits:
            name = model.manifest.name
            raise ApiError(
                404,
                "not_supported",
                "/v1/predict serves only the digits interface (input float [N, 64] -> label, "
                f"probabilities); model {name!r} version {model.manifest.version} has another: call it "
                f"with the Open Inference Protocol, POST /v2/models/{name}/infer (its inputs: "
                f"GET /v2/models/{name})",
            )
        return model

    def model_name(self) -> str:
        """The served model's name, or "" before it is loaded (a metrics label)."""
        return "" if self.model is None else self.model.manifest.name
