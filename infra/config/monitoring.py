"""The runtime's monitoring settings: how long container logs are kept, who is told of an alert (the action
group's e-mail addresses and webhook), the p99 latency threshold, how long the release watches the app after
an update, and a Grafana that may read the metrics."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints, ValidationInfo, field_validator

from infra.config import shapes as s
from infra.config.keys import Json, Secret, Section, key

# A mailbox as Azure Monitor's e-mail receiver takes it: local part, @, a dotted domain; no display name.
EMAIL = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
Emails = tuple[Annotated[str, StringConstraints(pattern=EMAIL, max_length=254)], ...]


class MonitoringSettings(Section):
    log_retention_days: int = key(
        "logRetentionDays",
        30,
        "days the Log Analytics workspace keeps the containers' logs (30 are included in its price)",
        ge=30,
        le=730,
    )
    on_call_emails: Json(Emails, "a JSON list of e-mail addresses", "'[\"oncall@example.com\"]'") = key(
        "onCallEmails",
        (),
        "addresses the action group e-mails every alert to; prod needs these or `onCallWebhookUrl`",
        default_doc="none",
    )
    on_call_webhook_url: Secret = key(
        "onCallWebhookUrl",
        None,
        "an https:// URL the action group POSTs every alert to (Azure's common alert schema: PagerDuty, "
        "Opsgenie, a Teams workflow); it carries a token, hence a secret",
        default_doc="none",
        secret=True,
    )
    latency_p99_ms: int = key(
        "alertLatencyP99Ms",
        500,
        "a route's p99 latency, in milliseconds, above which the AppLatencyP99High alert fires",
        ge=5,
        le=60_000,
    )
    watch_minutes: int = key(
        "watchMinutes",
        None,
        "how long the release watches the app's error ratio and p99 latency after each update before it "
        "keeps it (the `release_watch` output); at most what the watch step's time limit leaves room for",
        ge=1,
        le=10,  # the release's watch step: 10 watched minutes and two ingestion waits (pipelines/templates)
        validate_default=True,
        default_doc="`10` in prod, else `3`",
    )
    grafana_principal_id: s.Guid | None = key(
        "grafanaPrincipalId",
        None,
        "the managed identity of a Grafana (Azure Managed Grafana) that shows the dashboard: gets Monitoring "
        "Data Reader on the Azure Monitor workspace",
    )

    @field_validator("watch_minutes", mode="before")
    @classmethod
    def _longer_in_prod(cls, value: Any, info: ValidationInfo) -> Any:
        return (
            value if value is not None else (10 if (info.context or {}).get("environment") == "prod" else 3)
        )
