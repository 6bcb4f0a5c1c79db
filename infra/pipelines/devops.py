"""The Azure DevOps objects: project, repository, variable groups, environments, the two build definitions,
and what guards them (who may use what, branch control, exclusive locks, approvals, the PR build policy).

Triggers live in the YAML only: the definitions say `use_yaml` and carry no schedule. Azure Repos ignores a
YAML `pr:` block, so there pull-request previews come from a build-validation branch policy on main."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from infra import azure_ids
from infra.config.devops import RELEASE_ENVIRONMENTS, AzureBlobState, AzureReposSource, GitHubSource
from infra.config.secret_url import https_secret
from infra.pipelines.args import Context
from infra.pipelines.names import (
    GITHUB_CONNECTION,
    MAIN_BRANCH,
    MODEL_VERSION_CONFIG_KEY,
    PIPELINE_FOLDER,
    PROMOTED_IMAGE_CONFIG_KEY,
    RELEASE_WEBHOOK_VARIABLE,
)
from infra.pipelines.notifications import KEY as WEBHOOK_KEY


@dataclass(frozen=True)
class Repository:
    repo_type: str  # "TfsGit" or "GitHub"
    id: pulumi.Output[str]
    github_connection: azuredevops.ServiceEndpointGitHub | None


def project(ctx: Context) -> pulumi.Output[str]:
    devops = ctx.args.devops
    if not devops.create_project:
        return azuredevops.get_project_output(name=devops.project_name, opts=ctx.invoke).id
    return azuredevops.Project(
        f"{ctx.name}-project",
        name=devops.project_name,
        description="The AI app: model store, serving app and its Azure infrastructure, by Pulumi.",
        visibility="private",
        version_control="Git",
        # protect: `pulumi destroy` of this stack must never delete the project (repos, runs, history).
        opts=pulumi.ResourceOptions.merge(ctx.opts, pulumi.ResourceOptions(protect=True)),
    ).id


def repository(ctx: Context, project_id: pulumi.Output[str]) -> Repository:
    source = ctx.args.devops.source
    if isinstance(source, GitHubSource):
        connection = azuredevops.ServiceEndpointGitHub(
            f"{ctx.name}-github",
            project_id=project_id,
            service_endpoint_name=GITHUB_CONNECTION,
            description="Reads the code and reports build status; managed by Pulumi.",
            auth_personal=azuredevops.ServiceEndpointGitHubAuthPersonalArgs(
                personal_access_token=pulumi.Output.secret(source.connection_token)
            ),
            opts=ctx.opts,
        )
        return Repository("GitHub", pulumi.Output.from_input(source.repository), connection)
    if source.existing or _the_projects_own(ctx):
        # A new Azure DevOps project comes with a Git repository named after it: creating a second one of
        # that name fails, so the stack adopts it, looked up once the project exists (its id is the input).
        # microsoft/terraform-provider-azuredevops, azuredevops/internal/acceptancetests/
        # data_git_repository_test.go (TestAccGitRepository_DataSource, hclDataRepository): it creates only a
        # project and reads `data.azuredevops_git_repository` named like the project; the provider's project
        # create (azuredevops/internal/service/core/resource_project.go, resourceProjectCreate) returns only
        # after Azure DevOps' create operation succeeded, so the repository exists when the lookup runs.
        found = azuredevops.get_git_repository_output(
            project_id=project_id, name=source.repository_name, opts=ctx.invoke
        )
        return Repository("TfsGit", found.id, None)
    if source.import_url:
        initialization = azuredevops.GitInitializationArgs(
            init_type="Import", source_type="Git", source_url=source.import_url
        )
        default_branch: str | None = MAIN_BRANCH
    else:
        # Empty until the first `git push <url> main` (README), which makes main the default branch. The
        # provider refuses default_branch with Uninitialized before calling Azure DevOps ("there will be no
        # branches, 'default_branch' cannot not be set"): microsoft/terraform-provider-azuredevops,
        # azuredevops/internal/service/git/resource_git_repository.go, resourceGitRepositoryCreate (lines
        # 243-247 at 3bd1fdb). Not "Clean" either: its initial commit would make that push non-fast-forward.
        initialization = azuredevops.GitInitializationArgs(init_type="Uninitialized")
        default_branch = None
    repo = azuredevops.Git(
        f"{ctx.name}-repo",
        project_id=project_id,
        name=source.repository_name,
        default_branch=default_branch,
        initialization=initialization,
        # protect: the code must outlive any `pulumi destroy` of its CI/CD.
        opts=pulumi.ResourceOptions.merge(
            ctx.opts, pulumi.ResourceOptions(protect=True, ignore_changes=["initialization"])
        ),
    )
    return Repository("TfsGit", repo.id, None)


def _the_projects_own(ctx: Context) -> bool:
    """The stack creates the project and the repository is named like it (Azure DevOps compares names
    without case). infra/config refuses an import URL then: there is no new repository to import into."""
    devops, source = ctx.args.devops, ctx.args.devops.source
    return (
        devops.create_project
        and isinstance(source, AzureReposSource)
        and source.repository_name.casefold() == devops.project_name.casefold()
    )


def variable_group(
    ctx: Context, project_id: pulumi.Output[str], group_name: str, role: str, used_by: str
) -> azuredevops.VariableGroup:
    """The settings a pipeline's scripts read: state backend, stacks, model store, Azure ids. Secrets (a
    Pulumi Cloud token, the PR comment token, the release webhook) are secret variables, each only in the
    group that needs it."""
    args, state, source = ctx.args, ctx.args.devops.state, ctx.args.devops.source
    settings: dict[str, pulumi.Input[str]] = {
        "PULUMI_BACKEND_URL": state.backend_url
        if isinstance(state, AzureBlobState)
        else "https://api.pulumi.com",
        "AZURE_TENANT_ID": args.azure.tenant_id,
        "AZURE_SUBSCRIPTION_ID": args.azure.subscription_id,
        "AKS_SERVER_APP_ID": azure_ids.AKS_SERVER_APP_ID,
        "MODEL_STORE": args.model_store_url,
        "MODEL_NAME": args.model_name,
        "MODEL_VERSION_CONFIG_KEY": MODEL_VERSION_CONFIG_KEY,
        "PROMOTED_IMAGE_CONFIG_KEY": PROMOTED_IMAGE_CONFIG_KEY,
        **{f"PULUMI_STACK_{env.upper()}": args.qualified_stack(env) for env in RELEASE_ENVIRONMENTS},
    }
    secrets: dict[str, pulumi.Input[str]] = {}
    if isinstance(state, AzureBlobState):
        settings["AZURE_STORAGE_ACCOUNT"] = state.account_name
        settings["STATE_ENCRYPTION_KEY_URL"] = state.secrets_provider
    else:
        secrets["PULUMI_ACCESS_TOKEN"] = (
            state.deploy_access_token if role == "deploy" else state.preview_access_token
        )
    if role == "preview" and isinstance(source, GitHubSource):
        secrets["PR_COMMENT_TOKEN"] = source.comment_token
    if role == "deploy" and ctx.args.devops.alert_webhook_url is not None:
        # The release's rollback step posts what it did there (pipelines/rollback.py); https:// only, as the
        # service hooks' (notifications.py).
        secrets[RELEASE_WEBHOOK_VARIABLE] = https_secret(ctx.args.devops.alert_webhook_url, WEBHOOK_KEY)
    variables = [
        azuredevops.VariableGroupVariableArgs(name=key, value=value)
        for key, value in sorted(settings.items())
    ] + [
        azuredevops.VariableGroupVariableArgs(
            name=key, is_secret=True, secret_value=pulumi.Output.secret(value)
        )
        for key, value in sorted(secrets.items())
    ]
    return azuredevops.VariableGroup(
        f"{ctx.name}-{role}-variables",
        project_id=project_id,
        name=group_name,
        description=f"Settings of {used_by} (state backend, stacks, model store). Managed by Pulumi: "
        "edits in the web UI are overwritten.",
        allow_access=False,  # authorized per pipeline, never to every pipeline of the project
        variables=variables,
        opts=ctx.opts,
    )


def environments(ctx: Context, project_id: pulumi.Output[str]) -> dict[str, azuredevops.Environment]:
    return {
        env: azuredevops.Environment(
            f"{ctx.name}-env-{env}",
            project_id=project_id,
            name=env,
            description=f"The {env} stack; the release's deployment jobs record each rollout here.",
            opts=ctx.opts,
        )
        for env in RELEASE_ENVIRONMENTS
    }


def definition(
    ctx: Context, project_id: pulumi.Output[str], repo: Repository, pipeline: str, yml_path: str
) -> azuredevops.BuildDefinition:
    github = repo.github_connection
    return azuredevops.BuildDefinition(
        f"{ctx.name}-{pipeline}",
        project_id=project_id,
        name=pipeline,
        path=PIPELINE_FOLDER,
        # The job's System.AccessToken reaches this project only, not every project of the organization.
        job_authorization_scope="project",
        repository=azuredevops.BuildDefinitionRepositoryArgs(
            repo_type=repo.repo_type,
            repo_id=repo.id,
            branch_name=MAIN_BRANCH,
            yml_path=yml_path,
            service_connection_id=github.id if github is not None else None,
        ),
        # Triggers and schedules are the YAML's: the definition only says so (no schedules here).
        ci_trigger=azuredevops.BuildDefinitionCiTriggerArgs(use_yaml=True),
        pull_request_trigger=(
            azuredevops.BuildDefinitionPullRequestTriggerArgs(
                use_yaml=True,
                # Forks get no build at all: a fork's PR would otherwise run YAML nobody here reviewed.
                forks=azuredevops.BuildDefinitionPullRequestTriggerForksArgs(
                    enabled=False, share_secrets=False
                ),
            )
            if github is not None
            else None
        ),
        opts=ctx.opts,
    )


def authorize(
    ctx: Context,
    project_id: pulumi.Output[str],
    pipeline: str,
    definition: azuredevops.BuildDefinition,
    uses: list[tuple[str, str, pulumi.Input[str]]],
) -> None:
    """The pipeline may use exactly these (kind, key, id): nothing is open to every pipeline."""
    for kind, key, resource_id in uses:
        azuredevops.PipelineAuthorization(
            f"{ctx.name}-{pipeline}-uses-{key}",
            project_id=project_id,
            pipeline_id=definition.id.apply(int),
            type=kind,
            resource_id=resource_id,
            opts=ctx.opts,
        )


def guard_deployments(
    ctx: Context,
    project_id: pulumi.Output[str],
    guarded: list[tuple[str, str, pulumi.Input[str]]],
    environments: Mapping[str, azuredevops.Environment],
) -> None:
    """Only main may use the deploy connection, the group holding the deploy token and the environments;
    one release at a time per stack; prod approval when approvers are configured."""
    azure_repos = isinstance(ctx.args.devops.source, AzureReposSource)
    for kind, key, target in guarded:
        azuredevops.CheckBranchControl(
            f"{ctx.name}-main-only-{key}",
            project_id=project_id,
            display_name="Only main deploys",
            target_resource_type=kind,
            target_resource_id=target,
            allowed_branches=MAIN_BRANCH,
            # Azure Repos: main must also carry its branch policy. GitHub's protection is not visible here.
            verify_branch_protection=azure_repos,
            ignore_unknown_protection_status=False,
            opts=ctx.opts,
        )
    for env, environment in environments.items():
        # One release at a time per stack: a manual run waits for the nightly one instead of colliding with
        # it on the stack's lock halfway through (release.yml sets lockBehavior: sequential).
        azuredevops.CheckExclusiveLock(
            f"{ctx.name}-exclusive-{env}",
            project_id=project_id,
            target_resource_type="environment",
            target_resource_id=environment.id,
            opts=ctx.opts,
        )
    if ctx.args.devops.prod_approvers:
        azuredevops.CheckApproval(
            f"{ctx.name}-prod-approval",
            project_id=project_id,
            target_resource_type="environment",
            target_resource_id=environments["prod"].id,
            approvers=list(ctx.args.devops.prod_approvers),
            instructions="Approve to run `pulumi up` on prod: dev passed its smoke test",
            requester_can_approve=False,
            opts=ctx.opts,
        )


def pull_request_policy(
    ctx: Context, project_id: pulumi.Output[str], repo: Repository, ci: azuredevops.BuildDefinition
) -> None:
    """Azure Repos ignores `pr:` in YAML: this policy runs ci (and its preview) on every PR to main."""
    azuredevops.BranchPolicyBuildValidation(
        f"{ctx.name}-pr-preview",
        project_id=project_id,
        enabled=True,
        blocking=True,
        settings=azuredevops.BranchPolicyBuildValidationSettingsArgs(
            display_name="ci: lint, tests and pulumi preview",
            build_definition_id=ci.id.apply(int),
            queue_on_source_update_only=False,
            valid_duration=0,  # a new push to the PR or to main expires the result
            scopes=[
                azuredevops.BranchPolicyBuildValidationSettingsScopeArgs(
                    repository_id=repo.id, repository_ref=MAIN_BRANCH, match_type="Exact"
                )
            ],
        ),
        opts=ctx.opts,
    )


def pull_request_comments(ctx: Context, project_id: pulumi.Output[str], repo: Repository) -> None:
    """Azure Repos: the build identity may post the preview on a pull request ("Contribute to pull
    requests" on the repository, nothing else). The definitions' job authorization scope is the project, so
    the identity is "<project> Build Service (<organization>)".

    microsoft/terraform-provider-azuredevops, azuredevops/internal/service/permissions/
    resource_git_permissions.go: the token is repoV2/<project>/<repository> and the principal a subject
    descriptor; its acceptance test (acceptancetests/resource_git_permissions_test.go,
    hclGitPermissionsBuiltinUser) grants the project's build service this way. replace=False: the default
    (true) would reset the identity's other permissions on the repository."""
    devops = ctx.args.devops
    organization = devops.organization_url.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    build_service = azuredevops.get_identity_users_output(
        name=f"{devops.project_name} Build Service ({organization})", opts=ctx.invoke
    )
    azuredevops.GitPermissions(
        f"{ctx.name}-build-service-pr-comments",
        project_id=project_id,
        repository_id=repo.id,
        principal=build_service.subject_descriptor,
        permissions={"PullRequestContribute": "Allow"},
        replace=False,
        opts=ctx.opts,
    )
