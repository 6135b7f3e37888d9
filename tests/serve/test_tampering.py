"""What the service serves after the bundle folder is tampered with: an in-place change that
restores mtime and size, and a CURRENT pointer or version folder leading to another bundle."""

from __future__ import annotations

import logging
import os

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import BundleError, current_version, promote, resolve
from gogooku.serve.app import create_app
from gogooku.serve.config import ServeConfig
from gogooku.serve.state import ModelState


def _flip_in_place(path) -> None:
    """Change one byte of ``path``, then restore its mode, size, atime and mtime."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b"Tree=0") + len("Tree=")
    data[at] = ord("9")
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    path.chmod(before.st_mode & 0o777)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_file_changed_in_place_with_mtime_and_size_restored_is_withdrawn(world_home, caplog):
    path, info = create_bundle("lg", "lg")
    promote("lg", info.version)
    predict("lg")
    app = create_app(ServeConfig(models=["lg"], max_data_age_s=0))
    client = TestClient(app)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text

    _flip_in_place(path / "lgbm_5d.txt")
    with caplog.at_level(logging.ERROR, logger="gogooku.serve.state"):
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["models"] == {"lg": None}
    (reason,) = ready.json()["reasons"]
    assert "lgbm_5d.txt: SHA-256 differs from the manifest" in reason
    assert app.state.states["lg"].bundle is None
    assert "not serving lg (withdrawn until fixed)" in caplog.text


def test_current_must_name_a_version_folder_of_its_own_bundle(world_home):
    other, info = create_bundle("ln", "other")
    root = world_home / "bundles" / "lg"
    root.mkdir(parents=True)
    (root / "CURRENT").write_text(f"../other/{info.version}\n")
    state = ModelState("lg")
    assert state.current() is None
    assert "CURRENT: names '../other/v0001', not a version (vNNNN) of 'lg'" in state.error
    with pytest.raises(BundleError, match=r"CURRENT: names '\.\./other/v0001'"):
        current_version("lg")

    (root / "v0001").symlink_to(other, target_is_directory=True)
    (root / "CURRENT").write_text("v0001\n")
    assert state.current() is None and "is a symlink, not a version of 'lg'" in state.error
    with pytest.raises(BundleError, match="is a symlink"):
        resolve("lg", "v0001")
    with pytest.raises(BundleError, match="is a symlink"):
        promote("lg", "v0001")


def test_no_pointer_text_but_a_version_of_its_own_bundle_is_served(world_home):
    _, info = create_bundle("ln", "other")
    own, _ = create_bundle("ln", "lg")
    other = world_home / "bundles" / "other" / info.version
    pointer = own.parent / "CURRENT"
    ways_to_other = st.sampled_from(
        [
            "../other/v0001",
            "./../other/v0001",
            "v0001/../../other/v0001",
            str(other),
            "v0001/../v0001",
            " v0001/.",
            "v0001\n../other/v0001",
        ]
    )

    @settings(max_examples=40, deadline=None)
    @given(text=st.one_of(ways_to_other, st.text(max_size=12)))
    def check(text: str) -> None:
        pointer.write_text(text)
        state = ModelState("lg")
        bundle = state.current()
        if text.strip() == "v0001":
            assert bundle is not None and bundle.path == own
        else:
            assert bundle is None and str(pointer) in state.error

    check()
