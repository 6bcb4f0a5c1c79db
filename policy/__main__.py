"""Entry point the Pulumi engine runs for `--policy-pack policy`: builds the pack, which serves until stopped.

Never import this module (tests included): constructing PolicyPack starts a gRPC server and blocks forever.
The engine runs this file with policy/ on sys.path, hence `rules` rather than `policy.rules`.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import ALL_POLICIES

PolicyPack(
    name="aiapp-guardrails",
    policies=ALL_POLICIES,
    # Every policy also says so itself; this keeps a policy added without an explicit level blocking too.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Security guardrails of the AI app's Azure, Kubernetes and Azure DevOps resources.",
)
