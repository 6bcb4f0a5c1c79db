"""Yardstick "tutorial": the serving pattern of the 2018 "DevOps for AI apps" tutorial this project replaces.

Its flaskwebapp/app.py: a module-level Flask app, the model predicting in-process, `json.dumps` of the result
and `app.run(host=...)`, i.e. Flask's development server, one process, threaded (its default since Flask 1.0).
Here the model is the reference scikit-learn pipeline itself (not the ONNX export), fitted at start.

Run: `python -m bench.yardsticks.tutorial --port N` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from flask import Flask, Response, request

from model.train import fit_classifier


def create_app() -> Flask:
    classifier, *_ = fit_classifier()
    app = Flask(__name__)

    @app.route("/v1/predict", methods=["POST"])
    def predict() -> Response:
        instances = np.asarray(request.json["instances"], dtype=np.float32)
        probabilities = classifier.predict_proba(instances)
        labels = classifier.classes_[probabilities.argmax(axis=1)]
        predictions = [
            {"label": int(label), "probabilities": row.tolist()}
            for label, row in zip(labels, probabilities, strict=True)
        ]
        body = {"model": {"name": "digits", "version": "sklearn"}, "predictions": predictions}
        return Response(json.dumps(body), mimetype="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    create_app().run(host="127.0.0.1", port=args.port)  # the development server, threaded by default


if __name__ == "__main__":
    main()
