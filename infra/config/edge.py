"""The edge's settings: the two charts' pinned versions, Let's Encrypt, and an optional custom domain."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from infra.config import shapes as s
from infra.config.keys import Section, key, problem


class EdgeSettings(Section):
    """Envoy Gateway + cert-manager from their Helm charts (pinned), a Let's Encrypt issuer, and the host
    name: the Azure DNS label host by default, or `customDomain` inside the Azure DNS zone `dnsZoneId`."""

    envoy_gateway_version: s.ChartVersion = key(
        "envoyGatewayChartVersion",
        "v1.9.3",
        'Envoy Gateway Helm chart (`oci://docker.io/envoyproxy/gateway-helm`); see "The edge" before a bump',
    )
    cert_manager_version: s.ChartVersion = key(
        "certManagerChartVersion", "v1.21.1", "cert-manager Helm chart (`https://charts.jetstack.io`)"
    )
    acme_server: Literal["staging", "production"] = key(
        "acmeServer",
        None,
        "Let's Encrypt directory; `staging` certificates are not publicly trusted",
        validate_default=True,
        default_doc="`staging` in dev, else `production`",
    )
    acme_email: s.Email | None = key(
        "acmeEmail", None, "Let's Encrypt account contact (expiry warnings)", default_doc="none"
    )
    custom_domain: s.HostName | None = key(
        "customDomain",
        None,
        "host name of `app_url` inside `dnsZoneId` (DNS-01; recommended for prod)",
        default_doc="the Azure DNS label host",
    )
    dns_zone_id: s.DnsZoneId | None = key(
        "dnsZoneId", None, "Azure DNS zone of `customDomain`; required with it", default_doc="none"
    )
    certificate_timeout_seconds: int = key(
        "certificateTimeoutSeconds", 600, "how long `pulumi up` waits for the certificate", ge=60, le=3600
    )

    @field_validator("acme_server", mode="before")
    @classmethod
    def _staging_in_dev(cls, value: Any, info: ValidationInfo) -> Any:
        return (
            value
            if value is not None
            else ("staging" if (info.context or {}).get("environment") == "dev" else "production")
        )

    @property
    def dns_zone(self) -> str | None:
        match = re.match(s.DNS_ZONE_ID, self.dns_zone_id or "")
        return match["zone"] if match else None

    @model_validator(mode="after")
    def _domain_in_zone(self) -> EdgeSettings:
        if self.custom_domain is not None and self.dns_zone_id is None:
            raise problem("is required with aiapp:customDomain", key="dnsZoneId")
        if self.dns_zone_id is not None and self.custom_domain is None:
            raise problem("is required with aiapp:dnsZoneId", key="customDomain", example="app.example.com")
        zone = self.dns_zone
        if (
            self.custom_domain is not None
            and zone is not None
            and not self.custom_domain.endswith(f".{zone}")
        ):
            raise problem(
                f"{self.custom_domain} is not a name inside the zone {zone} (aiapp:dnsZoneId)",
                key="customDomain",
                example=f"app.{zone}",
            )
        return self
