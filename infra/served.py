"""What a stack serves: the image it built (AppImage), or one another stack built and tested
(aiapp:promotedImage), as the Deployment, its pod labels and the stack outputs need it; and the `promotion`
output, the same facts in the contract's shape (pipelines/promotion.py), which the release hands to the
next stack verbatim."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pulumi

from infra.app_image import AppImage
from infra.config.keys import NAMESPACE
from infra.config.promotion import KEY
from pipelines.promotion import Promotion, contract


class PromotionError(pulumi.RunError):
    """The promoted image is in a registry this stack's nodes cannot pull from."""


@dataclass(frozen=True)
class Served:
    image: pulumi.Output[str]  # <login server>/<repository>@sha256:<digest>: never a moving tag
    model_name: pulumi.Output[str]
    model_version: pulumi.Output[str]
    model_sha256: pulumi.Output[str]
    commit: pulumi.Output[str]  # the image's commit: the stack output app_commit
    app_version: pulumi.Output[str]

    def promotion(self) -> dict[str, pulumi.Output[str]]:
        """The `promotion` output: what aiapp:promotedImage takes to serve exactly this elsewhere (the fields
        are named as Promotion's attributes)."""
        return contract(**{f.name: getattr(self, f.name) for f in fields(self)})


def built(image: AppImage) -> Served:
    return Served(
        image.repo_digest,
        image.model_name,
        image.model_version,
        image.model_sha256,
        image.app_commit,
        image.app_version,
    )


def promoted(promotion: Promotion, login_server: pulumi.Input[str]) -> Served:
    """The given image, once it is known to be in the registry the nodes pull from (`login_server`: the
    stack's own registry, or the shared one). The config checks a shared registry's name already; this
    also covers the stack's own registry, whose name Azure suffixes, and a registry whose login server
    carries a domain-name-label hash."""

    def in_pulled_registry(server: str) -> str:
        if promotion.login_server != server:
            raise PromotionError(
                f"{NAMESPACE}:{KEY}: its image is in {promotion.login_server}, but this stack's nodes pull "
                f"from {server} (its own registry, or {NAMESPACE}:sharedRegistryId) and may pull only "
                f"there; promote an image of that registry (the `promotion` output of the stack that pushed "
                f"it there): `pulumi config set {NAMESPACE}:{KEY} <that object>`"
            )
        return promotion.image

    known = pulumi.Output.from_input
    return Served(
        known(login_server).apply(in_pulled_registry),
        known(promotion.model_name),
        known(promotion.model_version),
        known(promotion.model_sha256),
        known(promotion.commit),
        known(promotion.app_version),
    )
