"""Sign-in's settings: who may call the app (Entra ID access tokens for the API's registration).

The registration is made once, in the stack of the Azure DevOps side (`cicd`), run by a person who may create
applications in Entra ID: the nightly identity has no Microsoft Graph rights, and should not. The stacks the
release deploys only read what it made from config: the audience (its `auth_audience` output) and the issuer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from infra.config import shapes as s
from infra.config.keys import NAMESPACE, Section, key, problem

# The app role callers must hold; the cicd stack's registration defines it (infra/api_registration.py).
DEFAULT_ROLE = "Model.Invoke"


class SignInSettings(Section):
    """The app's sign-in (AUTH_* of the Deployment), and the app role, in every stack."""

    audience: s.ClientId | None = key(
        "authAudience",
        None,
        "sign-in: the API's application (client) id, the `auth_audience` output of the cicd stack; the "
        "Deployment's AUTH_AUDIENCE, and the pods may reach Entra ID on 443 for its keys",
        default_doc="none: sign-in off, anyone who reaches the app may call it",
    )
    issuer: s.IssuerUrl | None = key(
        "authIssuer",
        None,
        "the tokens' issuer (AUTH_ISSUER); only with `authAudience`",
        default_doc="`https://login.microsoftonline.com/<tenant of the deployment>/v2.0`",
    )
    role: s.AppRole = key(
        "authRole",
        DEFAULT_ROLE,
        "the app role callers must hold: the runtime's AUTH_REQUIRED_ROLE, and the role the cicd stack's "
        "registration defines and assigns",
    )

    @model_validator(mode="before")
    @classmethod
    def _issuer_needs_an_audience(cls, data: Any) -> Any:
        """(Before the values are checked: whatever it is, it would do nothing.)"""
        if isinstance(data, dict) and data.get("authIssuer") and not data.get("authAudience"):
            raise problem(
                "is set but aiapp:authAudience is not, so sign-in is off and it would do nothing",
                key="authIssuer",
                fix=f"set {NAMESPACE}:authAudience, or remove it (`pulumi config rm {NAMESPACE}:authIssuer`)",
            )
        return data


class ApiRegistrationSettings(Section):
    """The API's Entra registration, in the cicd stack: made by it, or an existing one it assigns roles in."""

    WHEN: ClassVar[str] = " with aiapp:pipelinesEnabled true"
    existing_client_id: s.ClientId | None = key(
        "apiClientId",
        None,
        "an existing registration of the API (its client id) to use instead; it needs the app role "
        "`authRole` and the identifier URI api://<client id>",
        default_doc="none: the stack creates the registration",
    )
    callers_group: s.Guid | None = key(
        "apiCallersGroupObjectId",
        None,
        "an Entra group whose members may call the app (assigned `authRole`)",
        default_doc="none: only the release's deploy identity",
    )
