"""Train, publish, fetch and list: on the file store and on Azurite (the real azure-storage-blob SDK)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from model.errors import IntegrityError, ModelNotFound, QualityGateError, VersionExists
from model.manifest import MANIFEST_FILE, MODEL_FILE, sha256_of, verify_model_dir
from model.registry import fetch, latest_version, list_versions, publish
from model.store import Store, open_store
from tests.conftest import REPO


@pytest.fixture(params=["file", "azurite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'store'}")
    return open_store(request.getfixturevalue("azurite_store_url"))


def _publish(store: Store, trained, **kwargs):
    return publish(store, trained.onnx, trained.metrics, trained.framework, **kwargs)


def test_training_is_deterministic_across_processes(reference_trained, tmp_path: Path) -> None:
    # A fresh interpreter, so no state shared with this one can make the bytes equal by accident; the model
    # goes through a file, not stdout, which a coverage or warning hook in the child may also write to.
    # Under hash seed 53, skl2onnx's set of opset domains iterates in the order other seeds rarely give.
    command = [sys.executable, "-m", "model", "train", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONHASHSEED": "53"}
    subprocess.run(command, cwd=REPO, env=env, capture_output=True, check=True)
    other = (tmp_path / MODEL_FILE).read_bytes()
    assert sha256_of(other) == sha256_of(reference_trained.onnx)
    assert reference_trained.metrics["accuracy"] >= 0.95


def test_publish_fetch_list_round_trip(store: Store, reference_trained, tmp_path: Path) -> None:
    first = _publish(store, reference_trained)
    second = _publish(store, reference_trained)
    assert (first.version, second.version) == ("1", "2")
    assert latest_version(store) == "2"
    assert second.sha256 == sha256_of(reference_trained.onnx)
    assert second.size == len(reference_trained.onnx)
    assert second.metrics["accuracy"] == reference_trained.metrics["accuracy"]
    assert second.framework["scikit-learn"] and second.framework["onnx"]
    assert [i["name"] for i in second.input] == ["input"]
    assert [o["name"] for o in second.output] == ["label", "probabilities"]

    fetched = fetch(store, tmp_path / "dest")
    assert fetched == second
    assert verify_model_dir(tmp_path / "dest") == second
    assert (tmp_path / "dest" / MODEL_FILE).read_bytes() == reference_trained.onnx

    older = fetch(store, tmp_path / "dest", version="1")
    assert older.version == "1" and verify_model_dir(tmp_path / "dest").version == "1"

    listed = list_versions(store)
    assert [(v.version, v.complete, v.latest) for v in listed] == [("1", True, False), ("2", True, True)]


def test_an_existing_version_is_never_overwritten(store: Store, reference_trained) -> None:
    _publish(store, reference_trained, version="3")
    before = store.read(f"digits/3/{MANIFEST_FILE}")
    with pytest.raises(VersionExists, match="version 3 already exists"):
        _publish(store, reference_trained, version="3")
    assert store.read(f"digits/3/{MANIFEST_FILE}") == before
    assert _publish(store, reference_trained).version == "4"


def test_an_explicit_older_version_does_not_move_latest_backwards(store: Store, reference_trained) -> None:
    _publish(store, reference_trained, version="5")
    _publish(store, reference_trained, version="2")
    assert latest_version(store) == "5"


def test_quality_gate_refuses_low_accuracy(store: Store, reference_trained) -> None:
    metrics = reference_trained.metrics | {"accuracy": 0.5}
    with pytest.raises(QualityGateError, match=r"accuracy 0\.5 is below the minimum 0\.95"):
        publish(store, reference_trained.onnx, metrics, reference_trained.framework)
    assert store.keys("digits/") == []
    # the gate is configurable
    assert publish(store, reference_trained.onnx, metrics, {}, min_accuracy=0.4).version == "1"


def test_quality_gate_refuses_a_model_with_another_spec(store: Store, tmp_path: Path) -> None:
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    wrong = LogisticRegression().fit(rng.random((40, 4), dtype=np.float32), np.arange(40) % 2)
    onnx_bytes = to_onnx(wrong, rng.random((1, 4), dtype=np.float32)).SerializeToString()
    with pytest.raises(QualityGateError, match="the model's spec is not what the app serves"):
        publish(store, onnx_bytes, {"accuracy": 1.0}, {})
    with pytest.raises(QualityGateError, match="does not load in onnxruntime"):
        publish(store, b"not an onnx model", {"accuracy": 1.0}, {})
    assert store.keys("digits/") == []


def test_fetch_refuses_a_corrupt_model_and_leaves_dest_untouched(
    store: Store, reference_trained, tmp_path: Path
) -> None:
    _publish(store, reference_trained)
    dest = tmp_path / "dest"
    fetch(store, dest)
    good = sorted(p.name for p in dest.iterdir())
    # a corrupt blob for version 2, under a correct manifest of version 2
    corrupt = bytearray(reference_trained.onnx)
    corrupt[100] ^= 0xFF
    store.create(f"digits/2/{MODEL_FILE}", bytes(corrupt))
    manifest = json.loads(store.read(f"digits/1/{MANIFEST_FILE}")) | {"version": "2"}
    store.create(f"digits/2/{MANIFEST_FILE}", json.dumps(manifest).encode())
    with pytest.raises(IntegrityError, match=r"digits version 2 .* is corrupt: .* has sha256"):
        fetch(store, dest, version="2")
    assert sorted(p.name for p in dest.iterdir()) == good
    assert verify_model_dir(dest).version == "1"
    assert {p.name for p in tmp_path.iterdir()} <= {"dest", "store"}, "staging left behind"


def test_missing_manifest_is_an_incomplete_upload(store: Store, reference_trained, tmp_path: Path) -> None:
    _publish(store, reference_trained)
    store.create(f"digits/2/{MODEL_FILE}", reference_trained.onnx)  # a publisher died before its manifest
    assert latest_version(store) == "1", "latest must never point at a partial upload"
    with pytest.raises(ModelNotFound, match="has no manifest"):
        fetch(store, tmp_path / "dest", version="2")
    assert not (tmp_path / "dest").exists()
    assert [(v.version, v.complete) for v in list_versions(store)] == [("1", True), ("2", False)]
    # the next publish skips the claimed number instead of overwriting it
    assert _publish(store, reference_trained).version == "3"


def test_corrupt_manifest_is_a_clear_error(store: Store, reference_trained, tmp_path: Path) -> None:
    store.create(f"digits/1/{MODEL_FILE}", reference_trained.onnx)
    store.create(f"digits/1/{MANIFEST_FILE}", b"{not json")
    with pytest.raises(IntegrityError, match="is not valid JSON"):
        fetch(store, tmp_path / "dest", version="1")


def test_empty_store_says_how_to_publish(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"no 'digits' model is published .*python -m model publish"):
        fetch(store, tmp_path / "dest")
    assert list_versions(store) == []


def test_publishers_racing_each_get_their_own_version(store: Store, reference_trained) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def publisher() -> None:
        try:
            results.append(_publish(store, reference_trained).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=int) == ["1", "2", "3", "4"]
    assert latest_version(store) == "4"


def test_publishers_racing_for_the_same_version_one_wins(store: Store, reference_trained) -> None:
    outcomes: list[str] = []

    def publisher() -> None:
        try:
            outcomes.append(_publish(store, reference_trained, version="7").version)
        except VersionExists:
            outcomes.append("refused")

    threads = [threading.Thread(target=publisher) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["7", "refused", "refused"]
    assert latest_version(store) == "7"


def test_bad_store_urls_say_what_to_use() -> None:
    for url in ("s3://bucket/models", "file://relative/dir", "https://account.blob.core.windows.net"):
        with pytest.raises(ValueError, match="MODEL_STORE"):
            open_store(url)


def test_missing_azure_container_is_a_clear_error(azurite, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from model.store import CONNECTION_STRING_ENV

    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    store = open_store(f"{azurite.blob_endpoint}/no-such-container")
    with pytest.raises(ModelNotFound, match=r"container .* does not exist"):
        store.read("digits/latest")


def _cli(*args: str, store_url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    environment = os.environ | {"MODEL_STORE": store_url} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "model", *args], cwd=REPO, env=environment, capture_output=True, text=True
    )


def test_cli_lifecycle_and_exit_codes(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    empty = _cli("fetch", "--dest", str(tmp_path / "dest"), store_url=url)
    assert empty.returncode == 1 and "python -m model publish" in empty.stderr
    assert "Traceback" not in empty.stderr

    trained = _cli("train", "--out", str(tmp_path / "trained"), store_url=url)
    assert trained.returncode == 0, trained.stderr
    published = _cli("publish", "--from", str(tmp_path / "trained"), store_url=url)
    assert published.returncode == 0 and "version 1" in published.stdout, published.stderr
    again = _cli("publish", "--from", str(tmp_path / "trained"), "--version", "1", store_url=url)
    assert again.returncode == 1 and "already exists" in again.stderr

    gate = _cli("publish", "--from", str(tmp_path / "trained"), "--min-accuracy", "0.999", store_url=url)
    assert gate.returncode == 1 and "below the minimum 0.999" in gate.stderr

    fetched = _cli("fetch", "--dest", str(tmp_path / "dest"), store_url=url)
    assert fetched.returncode == 0, fetched.stderr
    assert verify_model_dir(tmp_path / "dest").version == "1"

    listed = _cli("list", "--json", store_url=url)
    assert [row["version"] for row in json.loads(listed.stdout)] == ["1"]
