"""Calls the app with the kserve SDK's InferenceRESTClient (protocol v2); prints what it got as one JSON line.

Run by the kserve virtualenv's Python, not the project's (the SDK pins a protobuf the app cannot take:
tools/kserve/requirements.txt), from tests/oip/test_kserve.py:

    .venv-kserve/bin/python tests/oip/kserve_calls.py URL MODEL < calls.json

calls.json: [{"id": str | null, "binary": bool, "binary_outputs": bool,
              "inputs": [{"name", "datatype", "shape", "data" (flat), "dtype" (numpy)}],
              "outputs": [names] | null}, ...]
Printed: {"live", "ready", "model_ready", "answers": [{"id", "model_name", "outputs": {name: {"datatype",
"shape", "data"}}} | {"status": int, "message": str (the exception's own text)}]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def call(client: InferenceRESTClient, url: str, model: str, spec: dict[str, Any]) -> dict[str, Any]:
    inputs = []
    for tensor in spec["inputs"]:
        infer_input = InferInput(tensor["name"], tensor["shape"], tensor["datatype"])
        array = np.array(tensor["data"], dtype=tensor["dtype"]).reshape(tensor["shape"])
        infer_input.set_data_from_numpy(array, binary_data=spec["binary"])
        inputs.append(infer_input)
    outputs = None
    if spec["outputs"] is not None:
        outputs = [RequestedOutput(name, {"binary_data": spec["binary_outputs"]}) for name in spec["outputs"]]
    request = InferRequest(model, inputs, request_id=spec["id"], request_outputs=outputs)
    try:
        response = await client.infer(url, request, model_name=model)
    except httpx.HTTPStatusError as exc:
        return {"status": exc.response.status_code, "message": str(exc)}
    return {
        "id": response.id,
        "model_name": response.model_name,
        "outputs": {
            output.name: {
                "datatype": output.datatype,
                "shape": list(output.shape),
                "data": output.as_numpy().ravel().tolist(),
            }
            for output in response.outputs
        },
    }


async def main(url: str, model: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        return {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, model),
            "answers": [await call(client, url, model, spec) for spec in calls],
        }
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], json.load(sys.stdin)))))
