"""The Pulumi program's components: one module per concern, each a `pulumi.ComponentResource`.

Only `infra.config` reads `pulumi.Config`; components receive typed values.
"""
