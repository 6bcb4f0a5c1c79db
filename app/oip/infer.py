"""Run a parsed inference request on the model and write the protocol's answer.

Outputs asked for as binary data (the request's `binary_data_output`, or an output's `binary_data`) follow
the JSON object in the body, in the order of the outputs, and the answer carries the JSON object's length in
Inference-Header-Content-Length; otherwise the answer is JSON only. Shared by the Flask route and the fast
lane (app.oip.routes), so both answer the same bytes.
"""

from __future__ import annotations

from typing import Any

from app.inference import RunError, ServedModel
from app.jsonio import answer_bytes
from app.oip.request import InferRequest
from app.tensors import bad_request, to_binary, to_json

HEADER_LENGTH = "Inference-Header-Content-Length"


def infer_body(model: ServedModel, request: InferRequest) -> tuple[bytes, int | None]:
    """(response body, length of its JSON object when binary tensor data follows it, else None)."""
    try:
        arrays = model.run(request.feeds, [spec.name for spec, _ in request.outputs])
    except RunError as exc:
        # The inputs fit the model's declared interface but not its graph (two dynamic dimensions that must
        # agree, say): the request's values, so the caller's to fix.
        raise bad_request(f"the model cannot run on these inputs: {exc}") from None
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for (spec, binary), array in zip(request.outputs, arrays, strict=True):
        output: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype, "shape": list(array.shape)}
        if binary:
            chunks.append(to_binary(array, spec.datatype))
            output["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            output["data"] = to_json(array)
        outputs.append(output)
    answer: dict[str, Any] = {"model_name": model.manifest.name, "model_version": model.manifest.version}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = outputs
    header = answer_bytes(answer)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)
