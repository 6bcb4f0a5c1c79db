"""The real image: app/Dockerfile built with buildah FROM the local debootstrap'ed bookworm, started with its
own entrypoint (read from the image config) under `buildah run --isolation chroot`, called on 127.0.0.1.

Time budget: under 5 minutes once the base and the dependency layer are cached on this machine; the first
run on a machine adds the base (about 1 min) and the cold dependency layer (about 2 min). Images this module
makes beyond its main one are removed afterwards; the main one (localhost/aiapp-test:main) stays, so the next
run's builds are warm.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.page import CONTENT_SECURITY_POLICY, PAGE_FILES, STATIC_DIR
from model.manifest import Manifest
from tests.conftest import free_port, require_tool, wait_http
from tools.image.build import build_args
from tools.image.context import DOCKERFILE, MODEL_SUBDIR, copy_context, touch_app_code
from tools.image.engine import STORAGE, Buildah, ImageInfo
from tools.issuer import Issuer, key_server, sign_in_env

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
MAIN_TAG = "localhost/aiapp-test:main"
APP_UID = 10001
START_TIMEOUT_S = 90  # model verification, onnxruntime load, granian workers; seen here: about 5 s
# What `buildah run` itself creates in the container's root (not the app's doing).
BUILDAH_RUN_FILES = {"/run", "/run/.containerenv"}
RUN = ("buildah", *STORAGE, "run", "--isolation", "chroot")


@dataclass(frozen=True)
class Built:
    engine: Buildah
    image: ImageInfo
    figures: Mapping[str, Any]  # the build script's JSON line
    build_args: Mapping[str, str]
    manifest: Manifest


@pytest.fixture(scope="module")
def engine() -> Buildah:
    for tool in ("buildah", "debootstrap"):
        require_tool(tool)
    return Buildah()


@pytest.fixture(scope="module")
def base_image(engine: Buildah) -> str:
    """The local bookworm base (made once per machine; a cached one returns at once)."""
    done = subprocess.run(
        ["bash", str(REPO / "tools" / "image" / "base.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"tools/image/base.sh failed:\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(
    engine: Buildah,
    base_image: str,
    reference_model_dir: Path,
    reference_manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    """The image as `make image` builds it (the same script), from a context copy with the reference model."""
    context = copy_context(REPO, tmp_path_factory.mktemp("image") / "context", reference_model_dir)
    command = [sys.executable, "-m", "tools.image.build", "--engine", "buildah", "--no-fetch"]
    command += ["--context", str(context), "--base", base_image, "--tag", MAIN_TAG]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, timeout=1200)
    assert done.returncode == 0, f"the image build failed:\n{done.stderr[-5000:]}"
    figures = json.loads(done.stdout.strip().splitlines()[-1])  # the contract: the last line is the JSON
    print(f"\nimage build: {json.dumps(figures, sort_keys=True)}")
    images_before_tests = engine.image_ids()
    try:
        yield Built(
            engine=engine,
            image=engine.inspect(MAIN_TAG),
            figures=figures,
            build_args=build_args(reference_manifest, base_image),
            manifest=reference_manifest,
        )
    finally:
        engine.remove_images(sorted(engine.image_ids() - images_before_tests))


# --- running a container the way its image says ------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]
    container: str
    rootfs: Path
    log: Path
    started: float  # time.time() just before the entrypoint started (after the container was made)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, url: str) -> None:
        """Wait until the app at `url` answers /readyz; else fail the test with the container's output."""
        try:
            wait_http(f"{url}/readyz", timeout=START_TIMEOUT_S, proc=self.process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"the container did not become ready: {exc}\n{self.output()}")


def _entrypoint(image: ImageInfo) -> list[str]:
    """Exactly what a container engine would start: Entrypoint + Cmd from the image config."""
    command = list(image.config.get("Entrypoint") or []) + list(image.config.get("Cmd") or [])
    assert command, f"{image.reference} has neither Entrypoint nor Cmd"
    return command


def _buildah(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"buildah {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


@contextlib.contextmanager
def container_of(image: ImageInfo) -> Iterator[tuple[str, Path]]:
    name = f"aiapp-test-{uuid.uuid4().hex[:10]}"
    _buildah("from", "--name", name, "--pull=false", image.reference)
    try:
        yield name, Path(_buildah("mount", name))
    finally:
        _buildah("rm", name)


@contextlib.contextmanager
def run_entrypoint(image: ImageInfo, env: Mapping[str, str], tmp_path: Path) -> Iterator[Running]:
    """Start the image's entrypoint in a fresh container; at the end stop its process group, remove it."""
    with container_of(image) as (name, rootfs):
        flags = [flag for key, value in env.items() for flag in ("--env", f"{key}={value}")]
        log = tmp_path / f"{name}.log"
        started = time.time()
        time.sleep(0.01)  # file times are as coarse as the clock tick: nothing from before may tie with it
        with log.open("wb") as sink:
            # Its own session: buildah, its chroot helper, the app's master and workers share one process
            # group, so one killpg reaches them all (a SIGTERM to buildah alone orphans granian's workers).
            process = subprocess.Popen(
                [*RUN, *flags, name, "--", *_entrypoint(image)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield Running(process, name, rootfs, log, started)
        finally:
            _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_members(process.pid):
            time.sleep(0.1)
        if not _group_members(process.pid):
            break
    process.wait(timeout=10)
    assert not _group_members(process.pid), "container processes survived SIGKILL"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces: split after ")".
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def _listening_pids(port: int) -> set[int]:
    """The processes holding a listening TCP socket on `port` (the container shares the host network)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                    pids.add(int(entry.name))
    return pids


def _ids(pid: int, field: str) -> list[int]:
    """Real, effective, saved and filesystem ids of a process ("Uid" or "Gid")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return [int(value) for value in line.split()[1:]]
    raise AssertionError(f"/proc/{pid}/status has no {field} line")


def _http(url: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Security-Policy", ""), response.read()


def _wait_exit(running: Running, timeout: float) -> int:
    try:
        return running.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the container kept running for {timeout} s; output:\n{running.output()}")


def _files_written(rootfs: Path, since: float) -> set[str]:
    """Paths in the container's root changed after `since` (mtime or ctime), as the container sees them."""
    changed = set()
    for directory, subdirs, files in os.walk(rootfs):
        subdirs[:] = [name for name in subdirs if not os.path.ismount(os.path.join(directory, name))]
        for name in subdirs + files:
            path = Path(directory, name)
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                if max(stat.st_mtime, stat.st_ctime) > since:
                    changed.add("/" + str(path.relative_to(rootfs)))
    return changed


def _png(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(buffer, format=image_format)
    return buffer.getvalue()


def _digit_as_picture(features: np.ndarray) -> np.ndarray:
    """An 8x8 digit (0..16) as a 32x32 white-on-black picture, as scanned for scikit-learn's set."""
    return np.kron(features.reshape(8, 8) * (255 / 16), np.ones((4, 4)))


# --- the serving image -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    readyz: tuple[int, Any]
    version: tuple[int, Any]
    instances: tuple[int, Any]
    pictures: tuple[int, Any]
    page: dict[str, tuple[int, str, bytes]]  # path -> status, Content-Security-Policy, body
    listening_ids: dict[int, tuple[list[int], list[int]]]
    app_processes: dict[int, list[int]]
    healthcheck_exit: int
    written: set[str]
    started_s: float


@pytest.fixture(scope="module")
def served(built: Built, digits, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """Start the main image once, make every call the tests check, stop it; tests assert on what it saw."""
    port, metrics_port = free_port(), free_port()
    tmp = tmp_path_factory.mktemp("run")
    env = {"PORT": str(port), "METRICS_PORT": str(metrics_port), "WORKERS": "2"}
    with run_entrypoint(built.image, env, tmp) as running:
        url = f"http://127.0.0.1:{port}"
        running.wait_ready(url)
        started_s = time.time() - running.started
        instances = _http(f"{url}/v1/predict", {"instances": digits.x[:50].tolist()})
        pictures = [base64.b64encode(_png(_digit_as_picture(x))).decode() for x in digits.x[:10]]
        by_picture = _http(f"{url}/v1/predict", {"images": pictures})
        healthcheck = built.image.config["Healthcheck"]["Test"]
        assert healthcheck[0] == "CMD", healthcheck
        check = subprocess.run(
            [*RUN, "--env", f"PORT={port}", running.container, "--", *healthcheck[1:]],
            capture_output=True,
            timeout=60,
        )
        group = _group_members(running.process.pid)
        app_processes = {
            pid: _ids(pid, "Uid")
            for pid in group
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/opt/venv/bin/python\0")
        }
        listening = {pid: (_ids(pid, "Uid"), _ids(pid, "Gid")) for pid in _listening_pids(port)}
        served = Served(
            readyz=_http(f"{url}/readyz"),
            version=_http(f"{url}/version"),
            instances=instances,
            pictures=by_picture,
            page={page_file.path: _get(f"{url}{page_file.path}") for page_file in PAGE_FILES},
            listening_ids=listening,
            app_processes=app_processes,
            healthcheck_exit=check.returncode,
            written=_files_written(running.rootfs, running.started) - BUILDAH_RUN_FILES,
            started_s=started_s,
        )
    print(f"\ncontainer ready in {served.started_s:.1f} s")
    return served


def test_build_script_prints_its_figures_last(built: Built, base_image: str) -> None:
    figures = built.figures
    assert figures["image"] == MAIN_TAG and figures["engine"] == "buildah" and figures["base"] == base_image
    assert figures["image_id"] == built.image.image_id
    assert figures["model"]["sha256"] == built.manifest.sha256
    assert figures["total_mb"] == round(built.image.size / 1e6, 1)
    base_mb = built.engine.inspect(base_image).size / 1e6
    assert figures["app_layers_mb"] == pytest.approx(figures["total_mb"] - base_mb, abs=0.2)
    # The target: Debian's python3 + the trimmed venv + model + app stay within 200 MB above the base.
    assert 0 < figures["app_layers_mb"] <= 200, figures
    assert figures["build_s"] > 0


def test_image_config_runs_the_app_as_non_root_with_a_healthcheck(built: Built) -> None:
    config = built.image.config
    assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", "app"]
    assert not config.get("Cmd")
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert "8080/tcp" in config["ExposedPorts"]
    health = config["Healthcheck"]
    assert health["Test"][0] == "CMD" and any("/healthz" in part for part in health["Test"])
    assert health["Interval"] > 0 and health["Timeout"] > 0 and health["Retries"] > 0
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOME"].startswith("/tmp") and env["TMPDIR"].startswith("/tmp")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["ORT_DISABLE_TELEMETRY"] == "1"


def test_labels_name_the_model_source_and_revision(built: Built) -> None:
    labels = built.image.config["Labels"]
    manifest, args = built.manifest, built.build_args
    assert labels["io.aiapp.model.name"] == manifest.name
    assert labels["io.aiapp.model.version"] == manifest.version
    assert labels["io.aiapp.model.sha256"] == manifest.sha256
    assert labels["org.opencontainers.image.revision"] == args["GIT_COMMIT"]
    assert labels["org.opencontainers.image.source"] == args["SOURCE_URL"]
    assert labels["org.opencontainers.image.version"] == args["APP_VERSION"]


def test_final_stage_ships_no_build_tools(built: Built) -> None:
    with container_of(built.image) as (_, rootfs):
        site = rootfs / "opt/venv/lib/python3.11/site-packages"
        assert site.is_dir()
        shipped = {path.name for path in site.iterdir()}
        assert not {name for name in shipped if re.match(r"(pip|setuptools|wheel)([-.]|$)", name)}, shipped
        assert not list(site.rglob("tests")), "package test suites are trimmed"
        assert not (rootfs / "root/.cache").exists() and not (rootfs / "tmp/requirements.txt").exists()
        for tool in ("gcc", "cc", "make", "pip", "pip3"):
            for bin_dir in ("usr/bin", "usr/local/bin", "opt/venv/bin"):
                assert not (rootfs / bin_dir / tool).exists(), f"/{bin_dir}/{tool} is in the final stage"
        # Only the serving part of the model package, and the verified model beside its manifest.
        assert sorted(p.name for p in (rootfs / "opt/app/model").iterdir()) == [
            "__init__.py",
            "errors.py",
            "manifest.py",
        ]
        assert sorted(p.name for p in (rootfs / "srv/model").iterdir()) == ["manifest.json", "model.onnx"]
        # Nothing the app runs as may write to its own code or model: root owns them, no one else may write.
        for path in [*(rootfs / "opt").rglob("*"), *(rootfs / "srv").rglob("*")]:
            if path.is_symlink():  # a link's own mode is always 777; its target is checked on its own
                continue
            stat = path.lstat()
            assert stat.st_uid == 0 and not stat.st_mode & 0o022, f"{path} is writable by non-root"


def test_serves_readyz_and_the_baked_model(served: Served, built: Built) -> None:
    assert served.readyz == (200, {"status": "ready"})
    status, version = served.version
    assert status == 200
    assert version["model"]["sha256"] == built.manifest.sha256
    assert version["model"]["sha256"] == built.image.config["Labels"]["io.aiapp.model.sha256"]
    assert version["app"]["commit"] == built.build_args["GIT_COMMIT"]


def test_predicts_real_digits(served: Served, digits, reference_model_dir: Path) -> None:
    from app.inference import ServedModel

    status, body = served.instances
    assert status == 200, body
    labels = [prediction["label"] for prediction in body["predictions"]]
    expected, _ = ServedModel.load(reference_model_dir).predict(digits.x[:50])
    assert labels == expected.tolist(), "the container's model answers differently from the reference model"
    assert np.mean(np.array(labels) == digits.y[:50]) >= 0.9, "the labels are not the digits' true labels"


def test_predicts_digits_sent_as_png(served: Served, digits, reference_model_dir: Path) -> None:
    """Pillow survives the venv trimming: PNG decoding in the image gives what it gives on the host."""
    from app.images import digit_features
    from app.inference import ServedModel

    status, body = served.pictures
    assert status == 200, body
    host_features = np.stack([digit_features(_png(_digit_as_picture(x)), 1 << 22) for x in digits.x[:10]])
    expected, _ = ServedModel.load(reference_model_dir).predict(host_features)
    assert [prediction["label"] for prediction in body["predictions"]] == expected.tolist()


def test_serves_the_page_from_the_image(served: Served) -> None:
    """The page's files are in the image (the .dockerignore lets app/ through) and served with their CSP."""
    assert set(served.page) == {page_file.path for page_file in PAGE_FILES}
    for page_file in PAGE_FILES:
        assert served.page[page_file.path] == (
            200,
            CONTENT_SECURITY_POLICY,
            (STATIC_DIR / page_file.name).read_bytes(),
        )


def test_server_process_runs_as_the_non_root_uid(served: Served) -> None:
    assert served.listening_ids, "no process listens on the app port"
    for pid, (uids, gids) in served.listening_ids.items():
        assert uids == [APP_UID] * 4 and gids == [APP_UID] * 4, f"pid {pid}: Uid {uids} Gid {gids}"
    assert len(served.app_processes) >= 2, served.app_processes  # the master and its workers
    assert all(uids == [APP_UID] * 4 for uids in served.app_processes.values()), served.app_processes


def test_healthcheck_command_passes_against_the_running_app(served: Served) -> None:
    assert served.healthcheck_exit == 0


def test_writes_nothing_outside_tmp(served: Served) -> None:
    """A read-only root filesystem works: serving wrote only under /tmp (an emptyDir in Kubernetes)."""
    outside = {path for path in served.written if path != "/tmp" and not path.startswith("/tmp/")}
    assert not outside, f"the app wrote outside /tmp: {sorted(outside)[:40]}"
    assert not any(path.startswith("/tmp/.cache/Microsoft") for path in served.written), (
        "onnxruntime telemetry"
    )


def test_app_code_change_reuses_the_dependency_layer(
    built: Built, reference_model_dir: Path, tmp_path: Path, record_property
) -> None:
    context = copy_context(REPO, tmp_path / "context", reference_model_dir)
    touch_app_code(context, f"an app-code-only change {uuid.uuid4()}")
    result = built.engine.build(
        context, context / DOCKERFILE, "localhost/aiapp-test:rebuild", built.build_args
    )
    rebuilt = built.engine.inspect("localhost/aiapp-test:rebuild")
    record_property("image_rebuild_s", round(result.seconds, 1))
    print(f"\nrebuild after an app-code-only change: {result.seconds:.1f} s")
    # Layers: base, python3 (apt), venv (dependencies), model, model/ code, app/ code: only the last moves.
    assert len(rebuilt.layers) == len(built.image.layers)
    assert rebuilt.layers[:-1] == built.image.layers[:-1], "a layer below the app code was rebuilt"
    assert rebuilt.layers[-1] != built.image.layers[-1], "the app code change is not in the image"


def _broken_model_image(built: Built, reference_model_dir: Path, scratch: Path, tag: str) -> ImageInfo:
    """An image whose model.onnx no longer matches its manifest (same size, one byte flipped mid-file)."""
    context = copy_context(REPO, scratch / "context", reference_model_dir)
    model = context / MODEL_SUBDIR / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    built.engine.build(context, context / DOCKERFILE, tag, built.build_args)
    return built.engine.inspect(tag)


def test_corrupt_model_image_refuses_to_start(
    built: Built, reference_model_dir: Path, tmp_path: Path
) -> None:
    image = _broken_model_image(built, reference_model_dir, tmp_path, "localhost/aiapp-test:corrupt")
    env = {"PORT": str(free_port()), "METRICS_PORT": str(free_port())}
    with run_entrypoint(image, env, tmp_path) as running:
        exit_code = _wait_exit(running, timeout=START_TIMEOUT_S)
        output = running.output()
    assert exit_code != 0, output
    assert "refusing to serve the model in /srv/model" in output and "sha256" in output, output
    assert "Traceback" not in output, output


def test_missing_model_refuses_to_start(built: Built, tmp_path: Path) -> None:
    env = {"PORT": str(free_port()), "METRICS_PORT": str(free_port()), "MODEL_DIR": "/srv/no-model-here"}
    with run_entrypoint(built.image, env, tmp_path) as running:
        exit_code = _wait_exit(running, timeout=START_TIMEOUT_S)
        output = running.output()
    assert exit_code != 0, output
    assert "no manifest.json in /srv/no-model-here" in output, output


def test_healthcheck_fails_when_nothing_serves(built: Built) -> None:
    health = built.image.config["Healthcheck"]["Test"]
    with container_of(built.image) as (name, _):
        command = [*RUN, "--env", f"PORT={free_port()}", name, "--", *health[1:]]
        done = subprocess.run(command, capture_output=True, timeout=60)
    assert done.returncode != 0


# --- sign-in on ------------------------------------------------------------------------------------------
# AUTH_* set, the signing keys served from 127.0.0.1 (the container shares the host's network), real tokens
# from the test issuer: the image fetches the keys, checks tokens with the joserfc and cryptography it
# carries, and trusts the public roots that Entra ID's HTTPS certificates chain to (without them, no key
# fetch from login.microsoftonline.com could work).

# Roots that login.microsoftonline.com's certificate chains have used (DigiCert's, Microsoft's own).
ENTRA_ROOTS = ("DigiCert Global Root G2", "Microsoft RSA Root Certificate Authority 2017")


def _predict(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/v1/predict",
        data=json.dumps({"instances": [[0] * 64]}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_image_fetches_the_keys_and_checks_tokens(
    built: Built,
    issuer: Issuer,
    tmp_path: Path,
) -> None:
    port = free_port()
    with key_server(issuer.jwks()) as keys:
        env = {"PORT": str(port), "METRICS_PORT": str(free_port()), "WORKERS": "1"}
        env |= sign_in_env(issuer, keys.url_for("/keys"))
        with run_entrypoint(built.image, env, tmp_path) as running:
            url = f"http://127.0.0.1:{port}"
            running.wait_ready(url)
            status, body = _predict(url, issuer.token())
            assert status == 200 and len(body["predictions"]) == 1
            status, body = _predict(url, None)
            assert status == 401 and body["error"]["code"] == "unauthenticated"
            assert _predict(url, issuer.token(roles=()))[0] == 403
            assert "sign-in on: Entra ID tokens for" in running.output()
        assert sum(1 for request, _ in keys.log if request.path == "/keys") >= 1  # fetched from inside


def test_the_image_trusts_the_roots_entras_certificates_chain_to(built: Built) -> None:
    probe = (
        "import json, ssl; cas = ssl.create_default_context().get_ca_certs(); "
        "print(json.dumps([dict(x[0] for x in c['subject']).get('commonName') for c in cas]))"
    )
    with container_of(built.image) as (name, _):
        done = subprocess.run(
            [*RUN, name, "--", "/opt/venv/bin/python", "-c", probe],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    roots = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert len(roots) > 100, "the system CA bundle (Debian's ca-certificates) is not in the image"
    assert set(ENTRA_ROOTS) <= roots
