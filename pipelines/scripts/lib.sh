# Shared by the pipeline scripts (sourced, not run). Each function fails loudly, with an Azure Pipelines error
# annotation, when something the step needs is missing.

fail() {
  echo "##vso[task.logissue type=error]$*" >&2
  echo "error: $*" >&2
  exit 1
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

# Inside AzureCLI@2 with addSpnToEnvironment: hand the pipeline's federated identity to every Azure client.
# `az` is already logged in as that identity: azure-identity in the program (model store; on `pulumi up` the
# ACR token exchange for `docker login`), kubelogin (the kubernetes provider's AKS token) and the Pulumi CLI's
# azblob:// and azurekeyvault:// clients use it. The azure-native provider takes the connection's short-lived
# OIDC token. No stored secret is involved, and no token is written to the Pulumi state.
azure_env() {
  require_vars servicePrincipalId tenantId idToken AZURE_SUBSCRIPTION_ID
  export ARM_USE_OIDC=true
  # shellcheck disable=SC2154 # servicePrincipalId, tenantId and idToken are set by AzureCLI@2
  export ARM_CLIENT_ID="$servicePrincipalId" ARM_TENANT_ID="$tenantId" ARM_OIDC_TOKEN="$idToken"
  export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"
  export AZURE_KEYVAULT_AUTH_VIA_CLI=true
}

# Log the Pulumi CLI in to the state backend the variable group names.
pulumi_login() {
  require_vars PULUMI_BACKEND_URL
  # An unset secret variable reaches the step as its literal macro: treat it as unset.
  # shellcheck disable=SC2016 # the literal text $(PULUMI_ACCESS_TOKEN), not an expansion
  if [ "${PULUMI_ACCESS_TOKEN:-}" = '$(PULUMI_ACCESS_TOKEN)' ]; then
    unset PULUMI_ACCESS_TOKEN
  fi
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

# The federated login's assertion (the OIDC token AzureCLI@2 logs `az` in with) expires after about 10 minutes
# and `az` cannot renew it; an access token, once issued, is cached for about an hour. So ask for the tokens
# the update needs late (kubelogin's for AKS, once the cluster exists; ARM's for the ACR exchange) now. They go
# to az's own cache (removed when AzureCLI@2 ends), never to the log. Microsoft's advice for AADSTS700024:
# https://learn.microsoft.com/azure/devops/pipelines/release/troubleshoot-workload-identity
# AKS_SERVER_APP_ID (the AKS Entra server application) comes from the variable group: infra/azure_ids.py.
warm_token_cache() {
  require_vars AKS_SERVER_APP_ID
  if ! command -v az >/dev/null; then
    echo "##vso[task.logissue type=warning]az is not on PATH: tokens are not cached ahead (run in AzureCLI@2)" >&2
    return 0
  fi
  local resource
  for resource in "https://management.azure.com/" "$AKS_SERVER_APP_ID"; do
    az account get-access-token --resource "$resource" --output none ||
      fail "the federated identity cannot get a token for $resource (is the service connection's login valid?)"
  done
}
