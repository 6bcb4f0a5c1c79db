"""Someone hears of a failed or cancelled release: Azure DevOps service hooks that POST the build-completed
event to aiapp:alertWebhookUrl (a chat or incident webhook; the same URL can later take the alerts).

One hook per build status: a hook's `build_completed` filter takes one status
(microsoft/terraform-provider-azuredevops, azuredevops/internal/service/servicehook/tfs_publisher.go:
`build_status`, one of Succeeded, PartiallySucceeded, Failed, Stopped). E-mail notification subscriptions
have no resource in the provider. The provider does not mark the hook's `url` sensitive
(resource_servicehook_webhook_tfs.go: only basic_auth_password is), so the program keeps it secret: a
webhook URL is usually its own credential.
"""

from __future__ import annotations

import pulumi
import pulumi_azuredevops as azuredevops

from infra.config.secret_url import https_secret
from infra.pipelines.args import Context
from infra.pipelines.names import RELEASE_PIPELINE

# Build statuses that mean the release did not go through: Failed, and Stopped (cancelled, e.g. by a timeout
# or by hand). PartiallySucceeded cannot happen: no step of release.yml continues on error.
FAILURE_STATUSES = ("Failed", "Stopped")
KEY = "aiapp:alertWebhookUrl"


def notify_on_failure(
    ctx: Context, project_id: pulumi.Output[str], release: azuredevops.BuildDefinition
) -> list[azuredevops.ServicehookWebhookTfs]:
    """A hook per failure status of the release pipeline, when aiapp:alertWebhookUrl is set."""
    webhook = ctx.args.devops.alert_webhook_url
    if webhook is None:
        return []
    url = https_secret(webhook, KEY)  # https:// only, checked in a preview too
    return [
        azuredevops.ServicehookWebhookTfs(
            f"{ctx.name}-release-{status.lower()}-hook",
            project_id=project_id,
            url=url,
            build_completed=azuredevops.ServicehookWebhookTfsBuildCompletedArgs(
                definition_name=RELEASE_PIPELINE, build_status=status
            ),
            opts=pulumi.ResourceOptions.merge(
                ctx.opts,
                pulumi.ResourceOptions(depends_on=[release], additional_secret_outputs=["url"]),
            ),
        )
        for status in FAILURE_STATUSES
    ]
