# Shared by the pipeline scripts (sourced, not run). Each function fails loudly, with an Azure Pipelines error
# annotation, when something the step needs is missing.

fail() {
  echo "##vso[task.logissue type=error]$*" >&2
  echo "error: $*" >&2
  exit 1
}

# A secret variable of the variable group reaches a step only when the step maps it (`env:`), and one that is not
# defined reaches it as its literal macro, `$(NAME)`: treat that as unset (MicrosoftDocs/azure-devops-docs,
# docs/pipelines/process/variables.md, "Secret variables": "not automatically decrypted into environment
# variables for scripts. You can explicitly map them in").
unset_if_unmapped() {
  local name
  for name in "$@"; do
    if [ "${!name:-}" = "\$($name)" ]; then
      unset "$name"
    fi
  done
}

require_vars() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || fail "$name is not set: it comes from the pipeline's variable group (infra/pipelines/devops.py)"
  done
}

# The stack name of an environment (dev|prod), from the variable group's PULUMI_STACK_<ENV>.
stack_for() {
  case "$1" in
    dev | prod) ;;
    *) fail "unknown environment '$1': expected dev or prod" ;;
  esac
  local var="PULUMI_STACK_${1^^}"
  require_vars "$var"
  printf '%s' "${!var}"
}

# Inside AzureCLI@2 (templates/azure.yml): every Azure client of the step authenticates through the step's
# `az` login, which the task keeps alive (keepAzSessionActive), and never through a token captured at the
# step's start. The federated ID token the task logs `az` in with expires after about 10 minutes; with
# keepAzSessionActive the task asks Azure DevOps for a new one and runs `az login` again every 8 minutes
# until the script ends (microsoft/azure-pipelines-tasks, Tasks/AzureCLIV2/azureclitask.ts:
# keepRefreshingAzSession, AZ_SESSION_REFRESH_INTERVAL_MS = 480000). The `idToken` that addSpnToEnvironment
# would hand the script is the first one and is never refreshed, so the step does not ask for it.
#   - azure-native: with none of ARM_USE_OIDC=true, ARM_CLIENT_SECRET, ARM_CLIENT_CERTIFICATE_PATH,
#     ARM_USE_MSI or ARM_USE_DEFAULT_AZURE_CREDENTIAL it uses azidentity's AzureCLICredential, which runs `az`
#     for each token, after `az account show --subscription <ARM_SUBSCRIPTION_ID>` (pulumi/pulumi-azure-native,
#     provider/pkg/provider/auth_azidentity.go: newSingleMethodAuthCredential, readAuthConfig;
#     provider/pkg/provider/auth_cli.go). There is no ARM_USE_CLI: the CLI is what is left.
#   - kubelogin: `get-token --login azurecli` (infra/cluster.py) asks `az` for each token
#     (Azure/kubelogin, pkg/internal/token/azureclicredential.go).
#   - the program's azure-identity (model store, the ACR token exchange) reaches AzureCliCredential in
#     DefaultAzureCredential's chain; the Pulumi CLI's azurekeyvault:// client uses `az` because of
#     AZURE_KEYVAULT_AUTH_VIA_CLI (google/go-cloud, secrets/azurekeyvault/akv.go).
# No stored secret is involved, and no token is written to the Pulumi state.
azure_env() {
  require_vars AZURE_SUBSCRIPTION_ID
  # Whatever an agent or an earlier step left in the environment must not select another method.
  unset ARM_USE_OIDC ARM_OIDC_TOKEN ARM_OIDC_TOKEN_FILE_PATH ARM_OIDC_REQUEST_TOKEN ARM_OIDC_REQUEST_URL \
    ARM_CLIENT_SECRET ARM_CLIENT_CERTIFICATE_PATH ARM_CLIENT_CERTIFICATE_PASSWORD ARM_USE_MSI \
    ARM_USE_DEFAULT_AZURE_CREDENTIAL ARM_CLIENT_ID idToken servicePrincipalKey
  export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"
  export AZURE_KEYVAULT_AUTH_VIA_CLI=true
}

# Log the Pulumi CLI in to the state backend the variable group names.
pulumi_login() {
  require_vars PULUMI_BACKEND_URL
  # The committed Pulumi.<stack>.yaml carry no secretsprovider/encryptedkey (each customer has a vault of
  # their own), and without them the azblob:// backend's default secrets manager is the passphrase one, which
  # stops a non-interactive run. With this variable the CLI uses the secrets manager recorded in the stack's
  # state (the azurekeyvault:// key the stack was created with) when the stack file names none; a stack file
  # that names one still wins. Pulumi Cloud's default (the service's own) is what its state records, so the
  # variable changes nothing there. pulumi/pulumi PR 17236 (v3.134.0): sdk/go/common/env/env.go
  # (FallbackToStateSecretsManager, read as PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER, "1" or "true") and
  # pkg/cmd/pulumi/stack/secrets.go (SecretsManagerLoader.GetSecretsManager: the snapshot's manager when
  # the stack file has neither secretsprovider nor encryptionsalt); pkg/backend/diy/backend.go
  # (DefaultSecretManager: passphrase).
  export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true
  unset_if_unmapped PULUMI_ACCESS_TOKEN
  case "$PULUMI_BACKEND_URL" in
    azblob://*)
      unset PULUMI_ACCESS_TOKEN # self-managed state: the federated identity is the only credential
      ;;
    https://*)
      [ -n "${PULUMI_ACCESS_TOKEN:-}" ] ||
        fail "PULUMI_ACCESS_TOKEN is not set: Pulumi Cloud state needs the token of the variable group"
      ;;
    *) fail "PULUMI_BACKEND_URL '$PULUMI_BACKEND_URL' is neither azblob:// nor https://" ;;
  esac
  pulumi login --non-interactive "$PULUMI_BACKEND_URL"
}

# Fail early, with the reason, when the step's `az` session cannot do what the Pulumi processes will ask of
# it: the subscription azure-native selects (the same `az account show` its CLI authentication runs), an ARM
# token (azure-native, the ACR token exchange) and a token for the AKS Entra server application (kubelogin).
# Each process asks the session again when it needs a token. The two tokens asked for here also stay in az's
# cache for about an hour (az answers from its cache before it uses the login's assertion: Azure/azure-cli,
# src/azure-cli-core/azure/cli/core/auth/msal_credentials.py, ServicePrincipalCredential.get_token), and a job
# ends within 60 minutes; that carries the step through if the task cannot renew its login: with the
# EnableLateBoundIdToken pipeline feature on, keepAzSessionActive logs in again with the ID token bound to the
# step at its start, not a new one (Tasks/AzureCLIV2/azureclitask.ts: getIdToken).
# AKS_SERVER_APP_ID comes from the variable group (infra/azure_ids.py).
check_az_session() {
  require_vars AKS_SERVER_APP_ID ARM_SUBSCRIPTION_ID
  command -v az >/dev/null ||
    fail "az is not on PATH: the pipeline scripts run in AzureCLI@2, whose az login every Azure client uses"
  az account show --subscription "$ARM_SUBSCRIPTION_ID" --output none ||
    fail "the step's az login cannot see subscription $ARM_SUBSCRIPTION_ID (is the connection's identity granted on it?)"
  local resource
  for resource in "https://management.azure.com/" "$AKS_SERVER_APP_ID"; do
    az account get-access-token --resource "$resource" --output none ||
      fail "the step's az login cannot get a token for $resource (is the service connection's login valid?)"
  done
}

# Dev's certificate is from Let's Encrypt's staging CA (output acme_server: staging), which no system trusts: its
# roots, fetched over HTTPS from letsencrypt.org (publicly trusted), into <work>/staging-roots.pem, trusted by the
# release's own calls to the app only. Prints that file's path; nothing when the stack's CA is another one.
# Usage: staging_roots <outputs.json> <work dir>
staging_roots() {
  local acme_server
  acme_server="$(python -c 'import json,sys; print(json.load(open(sys.argv[1])).get("acme_server") or "")' "$1")"
  [ "$acme_server" = staging ] || return 0
  if [ ! -s "$2/staging-roots.pem" ]; then
    local root
    for root in letsencrypt-stg-root-x1 letsencrypt-stg-root-x2; do
      curl --fail --silent --show-error --location --retry 3 --proto '=https' \
        "https://letsencrypt.org/certs/staging/$root.pem"
    done >"$2/staging-roots.pem" || fail "cannot fetch Let's Encrypt's staging roots"
  fi
  printf '%s' "$2/staging-roots.pem"
}
