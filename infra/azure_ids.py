"""Azure's fixed ids, the same in every tenant: built-in role definitions and first-party Entra applications.
The one home of each; the pipeline scripts get the ones they need from the program (the variable groups)."""

# Built-in role definitions (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"  # "Role Based Access Control Administrator"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
AKS_RBAC_READER = "7f6c6a51-bcf8-42ba-9220-52d62157d7db"
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"  # query an Azure Monitor workspace (PromQL)

# The AKS Entra server application: the audience of every token for an Entra-integrated cluster.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"

# The Azure CLI's application: people get tokens through it (`az account get-access-token`).
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

# First-party applications through which people sign in: a deployment whose token was issued to one of these
# runs as a user; any other client id is a service principal (a pipeline's federated identity, say).
USER_SIGN_IN_APPS = frozenset(
    {
        AZURE_CLI_APP_ID,
        "1950a258-227b-4e31-a9cf-717495945fc2",  # Azure PowerShell
    }
)
