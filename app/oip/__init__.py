"""The Open Inference Protocol (KServe V2), REST half, for whatever ONNX model the app serves.

request.py reads an inference request against the model's own interface; infer.py runs it and writes the
answer (JSON tensors, or Triton's binary tensor data extension); routes.py holds the /v2 routes and the
fast lane's entries for them; openapi.py their part of /openapi.json. Errors under /v2 use the protocol's
body, `{"error": "<message>"}` (app.errors.error_response).
"""
