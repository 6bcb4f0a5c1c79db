"""The app's API in Entra ID: its registration, its app role, and who holds the role.

Declared in the stack of the Azure DevOps side (`cicd`), which a person runs: creating an application needs
Microsoft Graph rights (Application Administrator or Cloud Application Administrator, for the
pre-authorization and the role assignments) that the release's identity does not have and must not have.
The runtime stacks only read its client id from config (aiapp:authAudience).

- The registration (pulumi-azuread `Application`): single tenant; `api.requestedAccessTokenVersion = 2` (the
  provider's default is 1, and Entra would then issue v1 tokens, issued by https://sts.windows.net/<tenant>/,
  which the app refuses); the app role `authRole`, for users and applications; a delegated scope, which the
  Azure CLI is pre-authorized for, so a person gets a token with `az account get-access-token` and no consent
  prompt; the identifier URI api://<client id> (a resource of its own: the client id exists only after the
  registration does).
- Its service principal requires an app role assignment: Entra issues no token for the API to anyone who
  does not hold the role, so a token without it never reaches the app.
- The role is assigned to the release's deploy identity (its smoke test calls the app) and to
  aiapp:apiCallersGroupObjectId when set.
- With aiapp:apiClientId, an existing registration is used instead: nothing is created, the role (found by
  its value in the service principal's roles) is assigned.

Provider behaviour relied on (hashicorp/terraform-provider-azuread at f0169e0, which pulumi-azuread 6.11
wraps): internal/services/applications/application_resource.go line 178, `requested_access_token_version`
defaults to 1; docs/resources/application_identifier_uri.md, an Application whose identifier URIs another
resource manages must ignore changes to `identifier_uris`; internal/services/applications/applications.go
line 394, `expandApplicationApi` never sends `preAuthorizedApplications`, so updating the Application keeps
what ApplicationPreAuthorized added.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread

from infra.azure_ids import AZURE_CLI_APP_ID
from infra.config.runtime import StackSettings
from infra.config.signin import ApiRegistrationSettings
from infra.signin import token_command, token_scope

SCOPE = "access_as_user"  # the delegated permission the Azure CLI is pre-authorized for


def stable_id(stack: StackSettings, what: str) -> str:
    """A GUID for a role or scope of the registration that stays the same at every `pulumi up` (Entra wants
    the caller to choose them), and changes with what it names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aiapp:{stack.name_prefix}:{what}"))


@dataclass(frozen=True)
class ApiRegistrationArgs:
    stack: StackSettings
    settings: ApiRegistrationSettings
    role: str  # the app role's value (aiapp:authRole), in the `roles` claim of a caller's token
    callers: Sequence[pulumi.Input[str]]  # object ids of service principals to assign the role to


class ApiRegistration(pulumi.ComponentResource):
    exports: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: ApiRegistrationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aiapp:infra:ApiRegistration", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.settings.existing_client_id is None:
            client_id, principal_id, role_id = self._create(name, args, child)
        else:
            found = azuread.get_service_principal_output(
                client_id=args.settings.existing_client_id, opts=pulumi.InvokeOptions(parent=self)
            )
            client_id = pulumi.Output.from_input(args.settings.existing_client_id)
            principal_id = found.object_id
            role_id = found.app_role_ids.apply(lambda ids: _role_id(ids, args.role, args.settings))

        holders: list[tuple[str, pulumi.Input[str]]] = [
            (f"caller-{i}", c) for i, c in enumerate(args.callers)
        ]
        if args.settings.callers_group is not None:
            holders.append(("callers-group", args.settings.callers_group))
        for key, holder in holders:
            azuread.AppRoleAssignment(
                f"{name}-{key}-role",
                app_role_id=role_id,
                principal_object_id=holder,
                resource_object_id=principal_id,
                opts=child,
            )

        self.exports = {
            "auth_audience": client_id,
            "api_identifier_uri": pulumi.Output.concat("api://", client_id),
            "auth_token_scope": token_scope(client_id),
            "auth_token_command": token_command(client_id),
        }
        self.register_outputs(self.exports)

    @staticmethod
    def _create(
        name: str, args: ApiRegistrationArgs, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], str]:
        """The registration, its identifier URI, its service principal and the Azure CLI's pre-authorization;
        returns (client id, the service principal's object id, the role's id)."""
        stack, role = args.stack, args.role
        role_id, scope_id = stable_id(stack, f"app-role:{role}"), stable_id(stack, f"scope:{SCOPE}")
        # The person running `pulumi up` owns what it creates, so that later runs (and they) may change it.
        me = azuread.get_client_config_output(opts=pulumi.InvokeOptions(parent=child.parent)).object_id
        application = azuread.Application(
            f"{name}-application",
            display_name=stack.name("api"),
            sign_in_audience="AzureADMyOrg",
            owners=[me],
            api=azuread.ApplicationApiArgs(
                requested_access_token_version=2,
                oauth2_permission_scopes=[
                    azuread.ApplicationApiOauth2PermissionScopeArgs(
                        id=scope_id,
                        value=SCOPE,
                        type="User",
                        enabled=True,
                        admin_consent_display_name="Call the app's API",
                        admin_consent_description="Call the app's API as the signed-in user.",
                        user_consent_display_name="Call the app's API",
                        user_consent_description="Call the app's API as you.",
                    )
                ],
            ),
            app_roles=[
                azuread.ApplicationAppRoleArgs(
                    id=role_id,
                    value=role,
                    allowed_member_types=["User", "Application"],
                    display_name="Call the model",
                    description="Run and describe the model: the app's prediction and version routes.",
                    enabled=True,
                )
            ],
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["identifierUris"])
            ),
        )
        azuread.ApplicationIdentifierUri(
            f"{name}-identifier-uri",
            application_id=application.id,
            identifier_uri=pulumi.Output.concat("api://", application.client_id),
            opts=child,
        )
        principal = azuread.ServicePrincipal(
            f"{name}-service-principal",
            client_id=application.client_id,
            app_role_assignment_required=True,
            owners=[me],
            opts=child,
        )
        azuread.ApplicationPreAuthorized(
            f"{name}-azure-cli",
            application_id=application.id,
            authorized_client_id=AZURE_CLI_APP_ID,
            permission_ids=[scope_id],
            opts=child,
        )
        return application.client_id, principal.object_id, role_id


def _role_id(ids: dict[str, str] | None, role: str, settings: ApiRegistrationSettings) -> str:
    """The id of the role `role` in an existing registration; a clear error when it has no such role."""
    if not ids or role not in ids:
        raise ValueError(
            f"the registration {settings.existing_client_id} (aiapp:apiClientId) has no app role {role!r} "
            f"(it has {sorted(ids or {}) or 'none'}); add one, or set aiapp:authRole to one of its roles"
        )
    return ids[role]
