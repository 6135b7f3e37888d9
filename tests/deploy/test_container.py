"""The image of deploy/Dockerfile, built and run with a container runtime when one answers here:
the one-shot init on the synthetic market, then the service as the image runs it (non-root,
``HEALTHCHECK`` on ``/readyz``), ``/readyz`` and ``/v1/rankings`` from outside, and one daily
``update``. Skipped only when no runtime is available (the reason names what is missing).

``GOGOOKU_DOCKER_BUILD_ARGS`` adds ``docker build`` arguments, e.g. for a machine without
Docker Hub or PyPI access: ``--build-arg PYTHON_IMAGE=local/python:3.11 --build-arg
PIP_EXTRA_ARGS="--find-links http://127.0.0.1:8731/" --network host``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "gogooku:test"


def missing_runtime() -> str | None:
    """Why no container can run here, or None when a Docker daemon answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no `docker` client on PATH (Debian: apt-get install docker.io)"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 30 s"
    if info.returncode != 0:
        daemon = "dockerd is installed but not running" if shutil.which("dockerd") else "no dockerd"
        return f"no Docker daemon answers `docker info` ({daemon}): {info.stderr.strip()[:200]}"
    return None


MISSING = missing_runtime()


def docker(*args: str, timeout: float = 600, check: bool = True, stderr: bool = False) -> str:
    """``docker ARGS``' stdout (and stderr with ``stderr``); a failure shows both."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return (done.stdout + (done.stderr if stderr else "")).strip()


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=str(MISSING))
def test_the_image_serves_the_synthetic_market_and_turns_healthy():
    extra = shlex.split(os.environ.get("GOGOOKU_DOCKER_BUILD_ARGS", ""))
    docker("build", "-f", "deploy/Dockerfile", "-t", IMAGE, *extra, str(REPO), timeout=3600)
    volume = f"gogooku-test-{uuid.uuid4().hex[:8]}"
    container = f"{volume}-serve"
    data = ["-v", f"{volume}:/data"]
    job = ["run", "--rm", "--no-healthcheck", *data, "--entrypoint", "gogooku-job", IMAGE]
    try:
        docker(*job, "init", timeout=1800)
        docker(
            "run", "-d", "--name", container, *data, "-p", "127.0.0.1::8000",
            "--health-interval", "2s", "--health-start-period", "5s", IMAGE,
        )  # fmt: skip
        url = "http://" + docker("port", container, "8000/tcp").splitlines()[0]
        deadline = time.monotonic() + 180
        health = ""
        while time.monotonic() < deadline:
            health = docker("inspect", "--format", "{{.State.Health.Status}}", container)
            if health == "healthy":
                break
            time.sleep(2)
        assert health == "healthy", docker("logs", container, check=False)
        ready = httpx.get(url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert docker("exec", container, "id", "-u") == "10001"
        key = docker("exec", container, "gogooku", "apikey", "add", "test").splitlines()[-1]
        body = httpx.get(url + "/v1/rankings", headers={"X-API-Key": key}, timeout=10).json()
        assert body["model"] == "live" and body["version"] == "v0001" and body["count"] == 40
        assert "gogooku_model_ready" in httpx.get(url + "/metrics", timeout=10).text
        out = docker(*job, "update", stderr=True)
        assert "scores of live@v0001" in out
    finally:
        docker("rm", "-f", container, check=False)
        docker("volume", "rm", volume, check=False)
