"""The project's Pulumi CrossGuard policy pack (`pulumi preview --policy-pack policy`).

The validators live in `policy.rules`; `policy/__main__.py` only builds the PolicyPack, which starts the
analyzer's gRPC server as soon as it is constructed, so nothing may import it.
"""
