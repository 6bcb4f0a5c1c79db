"""Yardstick "peer", what a user might pick instead of Flask: FastAPI on uvicorn[standard] (uvloop, httptools)

The same ONNX model on onnxruntime with the app's session settings, the same JSON contract, input validated
the idiomatic FastAPI way (pydantic: 1..64 instances of exactly 64 finite numbers in 0..16), the model
loaded once per worker. `async def`: one inference is tens of microseconds, cheaper on the event loop than a
hop to the thread pool, so this is the faster of FastAPI's two handler styles here.

Run: `MODEL_DIR=... uvicorn bench.yardsticks.peer:app --workers N --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from app.inference import ServedModel

Pixel = Annotated[float, Field(ge=0, le=16, allow_inf_nan=False)]
Instance = Annotated[list[Pixel], Field(min_length=64, max_length=64)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: Annotated[list[Instance], Field(min_length=1, max_length=64)]


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    label: int
    probabilities: list[float]


class PredictResponse(BaseModel):
    model: ModelRef
    predictions: list[Prediction]


class _Loaded:
    predict: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    model: ModelRef


loaded = _Loaded()


def _load(model_dir: Path) -> None:
    # The app's own loader: the same verification and the same onnxruntime session settings.
    model = ServedModel.load(model_dir)
    loaded.predict = model.predict
    loaded.model = ModelRef(name=model.manifest.name, version=model.manifest.version)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    _load(Path(os.environ["MODEL_DIR"]))
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/v1/predict")
async def predict(request: PredictRequest) -> PredictResponse:
    features = np.asarray(request.instances, dtype=np.float32)
    labels, probabilities = loaded.predict(features)
    predictions = [
        Prediction(label=label, probabilities=row)
        for label, row in zip(labels.tolist(), probabilities.tolist(), strict=True)
    ]
    return PredictResponse(model=loaded.model, predictions=predictions)
