"""The Azure Repos repository on a first `pulumi up` of the cicd stack (issue 11, items 1 and 2), under
Pulumi's mocks: what the program asks of the azuredevops provider. That the provider refuses
`default_branch` with an uninitialized repository, and that a new project already holds a repository named
after it, is read from the provider's source (cited in infra/pipelines/devops.py), not run here."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_settings
from infra.config.devops import AzureReposSource
from infra.pipelines.names import MAIN_BRANCH
from model.store import FileStore
from tests.harness import EXISTING_REPO_ID, StackRun
from tests.harness.devops import (
    AZURE_REPOS_AZBLOB,
    CICD_STACK,
    DEVOPS_BUILD_DEFINITION,
    DEVOPS_BUILD_VALIDATION,
    DEVOPS_GIT,
    DEVOPS_PROJECT,
    PROGRAM_VARIANTS,
    make_args,
    run_pipelines,
    run_program_with_pipelines,
)

GET_REPOSITORY = "azuredevops:index/getGitRepository:getGitRepository"
IMPORT_URL = "https://github.com/contoso/aiapp.git"


def repository_lookups(run: StackRun) -> list[dict]:
    return [args for token, args in run.calls if token == GET_REPOSITORY]


def repo_ids_used(run: StackRun) -> set[str]:
    """The repository every build definition and the PR policy point at."""
    ids = {d.inputs["repository"]["repoId"] for d in run.of_type(DEVOPS_BUILD_DEFINITION)}
    for policy in run.of_type(DEVOPS_BUILD_VALIDATION):
        ids |= {scope["repositoryId"] for scope in policy.inputs["settings"]["scopes"]}
    return ids


def test_a_new_empty_repository_sets_no_default_branch() -> None:
    """Uninitialized + default_branch is refused by the provider before it calls Azure DevOps."""
    run = run_pipelines(make_args(project_name="AI app", source=AzureReposSource(repository_name="aiapp")))
    repo = run.one(DEVOPS_GIT)
    assert repo.inputs["initialization"] == {"initType": "Uninitialized"}
    assert "defaultBranch" not in repo.inputs
    assert repo_ids_used(run) == {repo.id}


def test_an_imported_repository_makes_main_its_default_branch() -> None:
    run = run_pipelines(
        make_args(
            project_name="AI app", source=AzureReposSource(repository_name="aiapp", import_url=IMPORT_URL)
        )
    )
    repo = run.one(DEVOPS_GIT)
    assert repo.inputs["initialization"] == {
        "initType": "Import",
        "sourceType": "Git",
        "sourceUrl": IMPORT_URL,
    }
    assert repo.inputs["defaultBranch"] == MAIN_BRANCH


@pytest.mark.parametrize("repository_name", ["aiapp", "AIApp"], ids=["same-name", "same-name-other-case"])
def test_the_projects_own_repository_is_adopted_once_the_project_exists(repository_name: str) -> None:
    """The defaults (project and repository both `aiapp`): no second repository of the project's name."""
    run = run_pipelines(
        make_args(project_name="aiapp", source=AzureReposSource(repository_name=repository_name))
    )
    assert run.of_type(DEVOPS_GIT) == []
    project = run.one(DEVOPS_PROJECT)
    # Looked up in the project the stack creates: its id (known only once it exists) is the lookup's input.
    assert repository_lookups(run) == [{"name": repository_name, "projectId": project.id}]
    assert repo_ids_used(run) == {EXISTING_REPO_ID}


def test_a_repository_named_otherwise_in_an_existing_project_is_still_created() -> None:
    """Only a project the stack creates comes with a repository the stack knows nothing of."""
    run = run_pipelines(
        make_args(
            create_project=False, project_name="aiapp", source=AzureReposSource(repository_name="aiapp")
        )
    )
    assert len(run.of_type(DEVOPS_GIT)) == 1 and repository_lookups(run) == []


def test_the_cicd_stack_with_default_settings_adopts_the_projects_repository(
    reference_store: FileStore,
) -> None:
    """The README's cicd stack as configured there (aiapp:projectName and aiapp:repositoryName unset), through
    the real __main__.py."""
    run = run_program_with_pipelines(PROGRAM_VARIANTS[0], model_store=reference_store.url)
    assert "aiapp:projectName" not in run.config and "aiapp:repositoryName" not in run.config
    assert run.of_type(DEVOPS_GIT) == []
    assert repository_lookups(run) == [{"name": "aiapp", "projectId": run.one(DEVOPS_PROJECT).id}]
    assert repo_ids_used(run) == {EXISTING_REPO_ID}


def test_an_import_into_the_projects_own_repository_is_refused_naming_the_key() -> None:
    values = {k.removeprefix("aiapp:"): v for k, v in AZURE_REPOS_AZBLOB.items()}
    with pytest.raises(ConfigError) as caught:
        load_settings({**values, "repositoryImportUrl": IMPORT_URL}.get, stack_name=CICD_STACK)
    message = str(caught.value)
    assert "aiapp:repositoryName: is the name of the project ('aiapp')" in message
    assert "pulumi config set aiapp:repositoryName aiapp-app" in message
    assert "remove aiapp:repositoryImportUrl" in message
