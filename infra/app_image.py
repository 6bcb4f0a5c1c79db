"""The serving image: app/ with the model baked in, tagged by content, pushed to ACR, deployed by digest.

The image carries the commit of the newest change to its own files and the app's version (/version shows
both, the release's smoke test checks the commit), and the repository it was built from (the OCI source
label); all are build args, and so part of the content tag.

Push credentials: never a resource input (the state is readable by the preview identity). On a real update
the program logs the Docker engine in to ACR as the identity running `pulumi up` (infra/acr_login.py) once the
registry and that identity's AcrPush exist and the registry grants the push (a new role takes minutes:
infra/propagation.py); the docker.Image then pushes with the engine's stored login. A preview
(`pulumi.runtime.is_dry_run()`) mints nothing: it builds and pushes nothing either.

Everything outside the engine (the project's files, the model store, Entra, ACR's token exchange and grants,
`docker login`) is reached through AppImageArgs.outside (infra/outside.py), never directly.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pulumi
import pulumi_docker as docker

from infra import acr_login, content_tag, model_source, source_version
from infra.config.runtime import ImageSettings, ModelSettings
from infra.outside import ImageOutside, RealOutside

PLATFORM = "linux/amd64"  # the AKS node pool's VM sizes are x86-64
DOCKERFILE = "app/Dockerfile"
MODEL_DIR = "build/model"  # the Dockerfile copies the fetched model from here
REFERENCE_CACHE = "build/reference-store"

T = TypeVar("T")


@dataclass(frozen=True)
class AppImageArgs:
    login_server: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    image: ImageSettings
    model: ModelSettings
    store_url: pulumi.Input[str]  # read only, never written
    # Role assignments that must exist first: AcrPush for the push, blob read access for the fetch (none when
    # the store is another stack's: access to it is granted there).
    push_after: Sequence[pulumi.Resource]
    fetch_after: Sequence[pulumi.Resource]
    store_is_shared: bool = False  # another stack's store (aiapp:modelStoreUrl): for the access advice
    # The project's files, the model store, Entra and ACR: the real ones unless a test passes its own.
    outside: ImageOutside = field(default_factory=RealOutside)


def _in_thread(work: Callable[[], T]) -> asyncio.Future[T]:
    """Run blocking I/O (downloads, training, HTTP) off the event loop that registers resources."""
    return asyncio.get_running_loop().run_in_executor(None, work)


def _logged_in_server(
    login_server: pulumi.Input[str],
    tenant_id: pulumi.Input[str],
    repository: str,
    after: Sequence[pulumi.Resource],
    outside: ImageOutside,
) -> pulumi.Output[str]:
    """The login server, resolved only once the Docker engine may push to it: after the registry and the
    deployer's AcrPush exist (`after`) and, on a real update, once the registry grants that push (a new
    role takes minutes to apply: infra/propagation.py) and `docker login` stored it. The image name is built
    from it, so the docker.Image is registered (and pushes) only after the login."""

    def log_in(values: list[str]) -> str | asyncio.Future[str]:
        server, tenant = values[0], values[1]
        if pulumi.runtime.is_dry_run():
            return server  # a preview pushes nothing, and the preview identity may not push: no token
        # Every real update logs in, also when the Image turns out unchanged: whether it pushes is known only
        # after the engine diffs it, and the image name (which waits for this login) is part of that diff.
        # Skipping it would not spare a Docker engine either: pulumi-docker pings the daemon whenever it is
        # configured (pulumi/pulumi-docker provider/provider.go Configure -> provider/image.go
        # configureDockerClient, "failed to connect to any docker daemon"; v5.1.0 lines 89 and 931-991), and
        # the engine configures it on every preview and update, changed or not (pulumi/pulumi
        # pkg/resource/deploy/providers/registry.go, Registry.Same).

        def work() -> str:
            acr_login.login_for_push(server, tenant, repository, outside)
            return server

        return _in_thread(work)

    return pulumi.Output.all(login_server, tenant_id, *[r.id for r in after]).apply(log_in)


class AppImage(pulumi.ComponentResource):
    """Builds app/Dockerfile from the project root with the chosen model in build/model/, and pushes it."""

    def __init__(self, name: str, args: AppImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:AppImage", name, None, opts)
        root = args.outside.project_root
        model_dir = root / MODEL_DIR
        source = self._source(root)
        version = source_version.app_version(root)
        source_url = source_version.source_url(root)

        if args.model.source == "reference":
            fetch: Callable[[], model_source.FetchedModel] = functools.partial(
                model_source.reference_model, root / REFERENCE_CACHE, model_dir, args.model.name
            )
            fetched = pulumi.Output.from_input(args.model.name).apply(lambda _: _in_thread(fetch))
        else:
            # Waits for the store's URL and for the deploying identity's read access to it.
            gate = pulumi.Output.all(args.store_url, *[r.id for r in args.fetch_after])
            fetched = gate.apply(
                lambda values: _in_thread(
                    functools.partial(
                        model_source.fetch_from_store,
                        args.outside.open_store,
                        values[0],
                        model_dir,
                        args.model.name,
                        args.model.version,
                        args.store_is_shared,
                    )
                )
            )

        build_args: dict[str, pulumi.Input[str]] = {
            "MODEL_NAME": fetched.apply(lambda m: m.name),
            "MODEL_VERSION": fetched.apply(lambda m: m.version),
            "MODEL_SHA256": fetched.apply(lambda m: m.sha256),
            "GIT_COMMIT": source.commit,
            "SOURCE_URL": source_url,
            "APP_VERSION": version,
        }
        if args.image.base_image:
            build_args["BASE_IMAGE"] = args.image.base_image
        tag = fetched.apply(
            lambda m: content_tag.content_tag(
                root,
                DOCKERFILE,
                MODEL_DIR,
                m.sha256,
                {
                    "MODEL_NAME": m.name,
                    "MODEL_VERSION": m.version,
                    "GIT_COMMIT": source.commit,
                    "SOURCE_URL": source_url,
                    "APP_VERSION": version,
                    "BASE_IMAGE": args.image.base_image or "",
                    "PLATFORM": PLATFORM,
                },
            )
        )
        server = _logged_in_server(
            args.login_server, args.tenant_id, args.image.repository, args.push_after, args.outside
        )
        image_name = pulumi.Output.concat(server, "/", args.image.repository, ":", tag)
        context = Path(os.path.relpath(root, Path.cwd()))
        image = docker.Image(
            name,
            build=docker.DockerBuildArgs(
                context=context.as_posix(),
                dockerfile=(context / DOCKERFILE).as_posix(),
                platform=PLATFORM,
                args=build_args,
            ),
            image_name=image_name,
            # Only the server: without a username and password pulumi-docker pushes with the Docker engine's
            # stored login for it (the one made above), and no credential reaches the state.
            registry=docker.RegistryArgs(server=server),
            skip_push=False,
            # A preview builds nothing (it still needs a Docker engine: the provider pings it, see above);
            # the image build is tested on its own in CI.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.push_after)),
        )
        self.tag: pulumi.Output[str] = tag
        self.image_name: pulumi.Output[str] = image.image_name
        # repository@sha256:...: what the Deployment runs, so a re-pushed tag can never change a running pod.
        self.repo_digest: pulumi.Output[str] = image.repo_digest
        self.model_name: pulumi.Output[str] = fetched.apply(lambda m: m.name)
        self.model_version: pulumi.Output[str] = fetched.apply(lambda m: m.version)
        self.model_sha256: pulumi.Output[str] = fetched.apply(lambda m: m.sha256)
        self.model_source: pulumi.Output[str] = fetched.apply(lambda m: m.source)
        self.app_commit: pulumi.Output[str] = pulumi.Output.from_input(source.commit)
        self.app_version: pulumi.Output[str] = pulumi.Output.from_input(version)
        self.register_outputs(
            {
                "repo_digest": self.repo_digest,
                "model_version": self.model_version,
                "app_commit": self.app_commit,
                "app_version": self.app_version,
            }
        )

    def _source(self, root: Path) -> source_version.SourceCommit:
        """The commit of the newest change to the image's files (read from git, before the model is fetched
        into the build context: the model is not a file of the repository)."""
        files = content_tag.image_files(root, DOCKERFILE, MODEL_DIR)
        found = source_version.source_commit(root, [f.relative_to(root).as_posix() for f in files])
        if found.warning:
            pulumi.log.warn(found.warning, resource=self)
        return found
