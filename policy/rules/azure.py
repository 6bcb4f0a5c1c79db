"""Azure (pulumi-azure-native v3): identity over keys, private storage, a locked-down AKS, explicit RBAC."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .common import for_types, get_path, mandatory, show

REGISTRY = "azure-native:containerregistry:Registry"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_CONTAINER = "azure-native:storage:BlobContainer"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

# azure-native's storage enum MinimumTlsVersion: TLS1_0, TLS1_1, TLS1_2, TLS1_3.
ACCEPTED_TLS_VERSIONS = ("TLS1_2", "TLS1_3")
# azure-native's authorization enum PrincipalType.
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")


def _require_exactly(
    args: ResourceValidationArgs,
    report_violation: ReportViolation,
    kind: str,
    path: tuple[str, ...],
    wanted: bool,
) -> bool:
    """Report unless the property at `path` is exactly `wanted`. Unset is a violation too: Azure's default
    for these has changed between API versions, and the stack must not depend on which one runs."""
    found = get_path(args.props, *path)
    if found is wanted:
        return True
    report_violation(
        f"{kind} '{args.name}': {'.'.join(path)} must be {show(wanted)}, found {show(found)}.", None
    )
    return False


def _require_one_of(
    args: ResourceValidationArgs,
    report_violation: ReportViolation,
    kind: str,
    prop: str,
    accepted: tuple[str | None, ...],
    must: str,
) -> None:
    """Report unless the property `prop` is one of `accepted`; `must`: what the message says it must be."""
    found = get_path(args.props, prop)
    if found not in accepted:
        report_violation(f"{kind} '{args.name}': {prop} {must}, found {show(found)}.", None)


@for_types(REGISTRY)
def validate_acr_admin_user_disabled(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(args, report_violation, "Container registry", ("adminUserEnabled",), False)


@for_types(STORAGE_ACCOUNT)
def validate_storage_https_only(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(args, report_violation, "Storage account", ("enableHttpsTrafficOnly",), True)


@for_types(STORAGE_ACCOUNT)
def validate_storage_min_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_one_of(
        args,
        report_violation,
        "Storage account",
        "minimumTlsVersion",
        ACCEPTED_TLS_VERSIONS,
        'must be "TLS1_2" or later',
    )


@for_types(STORAGE_ACCOUNT)
def validate_storage_no_public_blob_access(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    _require_exactly(args, report_violation, "Storage account", ("allowBlobPublicAccess",), False)


@for_types(STORAGE_ACCOUNT)
def validate_storage_shared_key_disabled(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    _require_exactly(args, report_violation, "Storage account", ("allowSharedKeyAccess",), False)


@for_types(BLOB_CONTAINER)
def validate_blob_container_private(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    # Unlike the account settings, a container's default has always been private ("None").
    _require_one_of(
        args, report_violation, "Blob container", "publicAccess", (None, "None"), 'must be "None" or unset'
    )


@for_types(MANAGED_CLUSTER)
def validate_aks_rbac(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(args, report_violation, "AKS cluster", ("enableRBAC",), True)


@for_types(MANAGED_CLUSTER)
def validate_aks_entra_id(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(args, report_violation, "AKS cluster", ("aadProfile", "managed"), True)
    _require_exactly(args, report_violation, "AKS cluster", ("aadProfile", "enableAzureRBAC"), True)


@for_types(MANAGED_CLUSTER)
def validate_aks_oidc_issuer(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(args, report_violation, "AKS cluster", ("oidcIssuerProfile", "enabled"), True)


@for_types(MANAGED_CLUSTER)
def validate_aks_workload_identity(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _require_exactly(
        args, report_violation, "AKS cluster", ("securityProfile", "workloadIdentity", "enabled"), True
    )


@for_types(MANAGED_CLUSTER)
def validate_aks_local_accounts_disabled(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    _require_exactly(args, report_violation, "AKS cluster", ("disableLocalAccounts",), True)


@for_types(ROLE_ASSIGNMENT)
def validate_role_assignment_principal_type(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    _require_one_of(
        args,
        report_violation,
        "Role assignment",
        "principalType",
        PRINCIPAL_TYPES,
        f"must be one of {', '.join(PRINCIPAL_TYPES)}",
    )


POLICIES = [
    mandatory(
        "acr-admin-user-disabled",
        "Container registries have the admin user disabled.",
        validate_acr_admin_user_disabled,
        "Set admin_user_enabled=False; push with an Entra token (AcrPush) and pull with the kubelet identity "
        "(AcrPull).",
        Severity.CRITICAL,
    ),
    mandatory(
        "storage-https-only",
        "Storage accounts accept HTTPS traffic only.",
        validate_storage_https_only,
        "Set enable_https_traffic_only=True on the storage account.",
    ),
    mandatory(
        "storage-min-tls-1-2",
        "Storage accounts require TLS 1.2 or later.",
        validate_storage_min_tls,
        'Set minimum_tls_version="TLS1_2" on the storage account.',
    ),
    mandatory(
        "storage-no-public-blob-access",
        "Storage accounts forbid anonymous public access to blobs.",
        validate_storage_no_public_blob_access,
        "Set allow_blob_public_access=False on the storage account.",
        Severity.CRITICAL,
    ),
    mandatory(
        "storage-shared-key-access-disabled",
        "Storage accounts refuse account-key (shared key) authorization; identities use Entra ID and RBAC.",
        validate_storage_shared_key_disabled,
        "Set allow_shared_key_access=False; grant Storage Blob Data roles to the identities that need them.",
        Severity.CRITICAL,
    ),
    mandatory(
        "blob-container-private",
        "Blob containers are private.",
        validate_blob_container_private,
        'Leave public_access unset or set it to "None".',
        Severity.CRITICAL,
    ),
    mandatory(
        "aks-rbac-enabled",
        "AKS clusters have Kubernetes RBAC enabled.",
        validate_aks_rbac,
        "Set enable_rbac=True on the managed cluster.",
    ),
    mandatory(
        "aks-entra-id-azure-rbac",
        "AKS clusters authenticate with Entra ID (AKS-managed) and authorize with Azure RBAC.",
        validate_aks_entra_id,
        "Set aad_profile=ManagedClusterAADProfileArgs(managed=True, enable_azure_rbac=True).",
    ),
    mandatory(
        "aks-oidc-issuer-enabled",
        "AKS clusters have the OIDC issuer enabled (needed by workload identity federation).",
        validate_aks_oidc_issuer,
        "Set oidc_issuer_profile=ManagedClusterOIDCIssuerProfileArgs(enabled=True).",
    ),
    mandatory(
        "aks-workload-identity-enabled",
        "AKS clusters have workload identity enabled, so pods reach Azure without secrets.",
        validate_aks_workload_identity,
        "Set security_profile.workload_identity.enabled=True on the managed cluster.",
    ),
    mandatory(
        "aks-local-accounts-disabled",
        "AKS clusters have local accounts disabled, so every access goes through Entra ID.",
        validate_aks_local_accounts_disabled,
        "Set disable_local_accounts=True on the managed cluster.",
        Severity.CRITICAL,
    ),
    mandatory(
        "role-assignment-explicit-principal-type",
        "Role assignments state their principal type, so Azure does not look the principal up (which fails "
        "for a freshly created identity) and a service principal is never assigned as a User.",
        validate_role_assignment_principal_type,
        'Pass principal_type="ServicePrincipal" for managed identities and service principals, "User" or '
        '"Group" for people.',
        Severity.MEDIUM,
    ),
]
