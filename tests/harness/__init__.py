"""Run the Pulumi program (or one component) under Pulumi's mock runtime and read what it declared.

The one fixture package for Pulumi mock tests (infra, policy, pipelines). Typical use::

    from tests.harness import run_program, run_component, render_manifests

    run = run_program({"aiapp:owner": "team-a"}, stack="prod")   # the real /work/main/__main__.py
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    assert cluster.inputs["disableLocalAccounts"] is True          # inputs use the wire (camelCase) names
    assert run.outputs["app_url"].startswith("http://")             # stack exports, resolved to plain values
    assert "kubeconfig" in run.secret_outputs
    paths = render_manifests(run, tmp_path)                         # every Kubernetes object as a YAML file

`run_program(config, stack="dev", preview=False, existing_stack=False, model_store=None, workdir=None,
extra_outputs=None, extra_calls=None)`:
  - config: keys like "aiapp:location"; merged OVER the stack's Pulumi.<stack>.yaml; a value of None removes a
    key the stack file sets. Non-string values are JSON-encoded, as the Pulumi CLI passes structured config.
    `secrets=` takes more keys that are marked secret (as `pulumi config set --secret` does).
  - preview=True runs as `pulumi preview` would: computed outputs of new resources are unknown, so an
    `.apply` on them never runs. A test under preview must prove its assertions ran (for example by
    asserting the exact set of resources it looked at is non-empty).
  - existing_stack=True (with preview=True): a preview of a stack whose resources already exist unchanged,
    so their outputs (login server, fqdn, ids) are known, as the engine reads them from the state;
    `pulumi.runtime.is_dry_run()` is still True.
  - model_store: the file:// store the program's model fetch really reads. The program opens the URL of the
    storage account it declares (https://<account>.blob.core.windows.net/<container>); the harness checks that
    URL and hands the program this store instead. Default: a store created once per test process holding
    the reference model (trained with `model.train`) as version 1. In pytest, pass
    `model_store=reference_store.url` (tests/conftest.py's session fixture) to avoid a second training.
  - workdir: the project directory the image is built from (the harness copies app/, model/, .dockerignore
    and pyproject.toml there when it has none; a copy is no git checkout, so the image's commit is "unknown");
    default: a fresh temporary directory, so no test writes into the repo's build/.
  - extra_outputs / extra_calls: {type token: fn(MockResourceArgs) -> dict} and {call token: fn(args) -> dict}
    for resource types or invokes tests/harness/mocks.py has no realistic mock for (unknown calls fail
    loudly).

`last_run()` is the most recent StackRun, also when the run raised (e.g. to prove a config error came before
any resource was declared).

`run_component(build, config=..., preview=False, ...)` runs `build()` (e.g. `lambda: Registry("acr", args)`)
in a fresh mock stack; if it returns a mapping, its values resolve into `.outputs` like stack exports. A
component that reaches the outside world is given one by `build` (e.g. a `RecordingOutside`).

StackRun: `.resources` (list of frozen `Recorded`), `.reads` (existing resources the program read by id,
`Resource.get`, as `Recorded` with their outputs; the engine manages none of them), `.outputs`,
`.secret_outputs`, `.unknown_outputs`, `.calls`, `.call_providers` (the provider urn of each call, "" for the
default), `.workdir`, `.outside` and what the program asked of it: `.token_scopes` (Entra scopes),
`.acr_exchanges`, `.registry_checks` (what the registry grants, asked before `docker login`),
`.docker_logins`, `.cluster_reviews` (access reviews asked of the cluster before its Provider is used),
`.store_urls`; `.of_type(token)`, `.one(token, name=None)`, `.by_urn(urn)`, `.children(rec)`,
`.parent_of(rec)`. Recorded: type, name, urn, id, inputs, outputs, parent (urn or None), custom, protect,
provider (urn or None), dependencies, ignore_changes, delete_before_replace, additional_secret_outputs,
replace_on_changes, retain_on_delete, secret_inputs (top-level input names that hold a secret).

What is faked, and nothing else: the engine (Pulumi's mock monitor, with outputs shaped like the providers'
for the types the program declares, tests/harness/mocks.py: ids, loginServer, primaryEndpoints, kubelet
identity, OIDC issuer URL, fqdn, repoDigest, the Service's load-balancer IP; a registry read by its id
gets that id, its name and `<name>.azurecr.io`, known in a preview too; Azure DevOps' numeric definition,
group and environment ids, service connections' federation issuer and subject, managed identities' client and
principal ids), the invokes (getClientConfig: TENANT_ID, SUBSCRIPTION_ID, CLIENT_OBJECT_ID and CLIENT_ID, the
Azure CLI's app, so the deployer is a User; getClientToken; listManagedClusterUserCredentials: a kubelogin
kubeconfig for the declared cluster; Azure DevOps' getProject and getGitRepository: EXISTING_PROJECT_ID,
EXISTING_REPO_ID; Entra ID's (azuread) getClientConfig, and getServicePrincipal: an existing registration's
EXISTING_SP_OBJECT_ID with the role EXISTING_APP_ROLE_ID), and the program's outside world (infra/outside.py's
Outside, which __main__.py is handed as `outside`; tests/harness/outside.py): Entra
("mock-entra-token-for:<scope>"), ACR's token exchange ("mock-acr-refresh-token@<login server>"), the
registry's grants (pull and push at once), the cluster's access review (allowed at once: no run waits),
`docker login` (recorded, nothing runs), the store URL above and the project directory (the workdir). Nothing
in the program is patched.

The Azure DevOps side (aiapp:pipelinesEnabled): tests/harness/devops.py (type tokens, realistic values, the
two whole-program variants, `run_program_with_pipelines(variant)`, `walk`,
`secrets_kept_secret(run)`).

Global runtime state (root stack, config, settings) is reset before every run, so any number of runs work in
one pytest process; tests/harness/sdk.py is the one module that touches the Pulumi SDK's internals for that.
Runs are not thread-safe (Pulumi's runtime is process-global).
"""

from tests.harness.manifests import kubernetes_objects, render_manifests
from tests.harness.mocks import (
    AKS_SCOPE,
    ARM_TOKEN,
    CLIENT_ID,
    CLIENT_OBJECT_ID,
    EXISTING_PROJECT_ID,
    EXISTING_REPO_ID,
    SUBSCRIPTION_ID,
    TENANT_ID,
)
from tests.harness.outside import RecordingOutside
from tests.harness.records import Recorded, StackRun
from tests.harness.run import (
    PROGRAM,
    REPO_ROOT,
    last_run,
    prepare_workdir,
    reference_store,
    run_component,
    run_program,
    stack_config,
)

__all__ = [
    "AKS_SCOPE",
    "ARM_TOKEN",
    "CLIENT_ID",
    "CLIENT_OBJECT_ID",
    "EXISTING_PROJECT_ID",
    "EXISTING_REPO_ID",
    "PROGRAM",
    "REPO_ROOT",
    "SUBSCRIPTION_ID",
    "TENANT_ID",
    "Recorded",
    "RecordingOutside",
    "StackRun",
    "kubernetes_objects",
    "last_run",
    "prepare_workdir",
    "reference_store",
    "render_manifests",
    "run_component",
    "run_program",
    "stack_config",
]
