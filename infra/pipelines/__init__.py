"""Azure DevOps as code: the project, its repository, the Azure connections, the `ci` and `release` pipelines.

- Azure access goes through two service connections with workload identity federation, each to a managed
  identity of its own (identities.py): no secret exists for Azure at all.
- `aiapp-azure-deploy` (the release) holds only the roles `pulumi up` needs (grants.py), and only main may use
  it. `aiapp-azure-preview` (ci, pull requests included) only reads: a pull request that edits the YAML to run
  `pulumi up` still cannot change anything in Azure.
- Each pipeline is authorized for exactly the connections, environments and variable groups its YAML uses
  (devops.py), nothing more; the names the YAML uses are in names.py.
- A failed or cancelled release run is POSTed to aiapp:alertWebhookUrl, when set (notifications.py).

Bootstrapping: this component is applied by a person (an Azure owner with an Azure DevOps PAT), never by the
release pipeline it creates: the deploy identity deliberately cannot grant roles beyond `assignable_roles`.
So it lives in a stack the release does not deploy (`cicd`, with aiapp:runtimeEnabled false): infra/config
refuses aiapp:pipelinesEnabled in the stacks named by aiapp:stacks.
"""

from __future__ import annotations

import pulumi
import pulumi_azuredevops as azuredevops

from infra.config.devops import AzureBlobState, AzureReposSource
from infra.pipelines import devops
from infra.pipelines.args import Context, PipelinesArgs, pipelines_args
from infra.pipelines.grants import deploy_role_grants, preview_role_grants
from infra.pipelines.identities import azure_connection, state_decrypt_only
from infra.pipelines.names import (
    CI_PIPELINE,
    CI_YAML,
    DEPLOY_CONNECTION,
    DEPLOY_VARIABLE_GROUP,
    PREVIEW_CONNECTION,
    PREVIEW_VARIABLE_GROUP,
    RELEASE_PIPELINE,
    RELEASE_YAML,
)
from infra.pipelines.notifications import notify_on_failure

__all__ = ["Pipelines", "PipelinesArgs", "pipelines_args"]


class Pipelines(pulumi.ComponentResource):
    """The Azure DevOps project, its Azure connections, variable groups, environments and two pipelines."""

    exports: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: PipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Pipelines", name, None, opts)
        # The organization comes from the args alone, so the resources are created where the URLs this
        # component exports point. The PAT is the operator's, from AZDO_PERSONAL_ACCESS_TOKEN, read by the
        # provider: never in config or state.
        provider = azuredevops.Provider(
            f"{name}-azuredevops",
            org_service_url=args.devops.organization_url,
            opts=pulumi.ResourceOptions(parent=self),
        )
        ctx = Context(
            name,
            args,
            pulumi.ResourceOptions(parent=self, providers=[provider]),
            pulumi.InvokeOptions(parent=self, provider=provider),
        )
        project_id = devops.project(ctx)
        repo = devops.repository(ctx, project_id)

        deploy = azure_connection(ctx, project_id, "deploy", DEPLOY_CONNECTION, deploy_role_grants(args))
        preview = azure_connection(ctx, project_id, "preview", PREVIEW_CONNECTION, preview_role_grants(args))
        if isinstance(args.devops.state, AzureBlobState):
            state_decrypt_only(ctx, preview.principal_id, args.devops.state)

        deploy_group = devops.variable_group(
            ctx, project_id, DEPLOY_VARIABLE_GROUP, "deploy", "the release pipeline"
        )
        preview_group = devops.variable_group(
            ctx, project_id, PREVIEW_VARIABLE_GROUP, "preview", "the ci pipeline"
        )
        environments = devops.environments(ctx, project_id)
        ci = devops.definition(ctx, project_id, repo, CI_PIPELINE, CI_YAML)
        release = devops.definition(ctx, project_id, repo, RELEASE_PIPELINE, RELEASE_YAML)

        deploys = [
            ("endpoint", "deploy-connection", deploy.endpoint.id),
            ("variablegroup", "deploy-group", deploy_group.id),
            *[("environment", f"env-{env}", e.id) for env, e in environments.items()],
        ]
        devops.guard_deployments(ctx, project_id, deploys, environments)
        # Each pipeline may use what its YAML uses, and nothing the other one uses.
        github = (
            [("endpoint", "github-connection", repo.github_connection.id)] if repo.github_connection else []
        )
        previews = [
            ("endpoint", "preview-connection", preview.endpoint.id),
            ("variablegroup", "preview-group", preview_group.id),
        ]
        devops.authorize(ctx, project_id, CI_PIPELINE, ci, previews + github)
        devops.authorize(ctx, project_id, RELEASE_PIPELINE, release, deploys + github)
        if isinstance(args.devops.source, AzureReposSource):
            devops.pull_request_policy(ctx, project_id, repo, ci)
            devops.pull_request_comments(ctx, project_id, repo)
        notify_on_failure(ctx, project_id, release)  # aiapp:alertWebhookUrl, when set

        def url(definition: azuredevops.BuildDefinition) -> pulumi.Output[str]:
            return definition.id.apply(lambda id_: f"{args.project_url}/_build?definitionId={id_}")

        # What the stack exports, under these names (the README's table of outputs).
        self.exports = {
            "project_url": pulumi.Output.from_input(args.project_url),
            "ci_pipeline_url": url(ci),
            "release_pipeline_url": url(release),
            "deploy_principal_id": deploy.principal_id,
            "preview_principal_id": preview.principal_id,
        }
        self.register_outputs(self.exports)
