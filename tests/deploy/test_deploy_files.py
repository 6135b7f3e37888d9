"""deploy/: the Dockerfile, compose file, Prometheus and Grafana provisioning, systemd units and
the job script agree with each other and with the CLI: every gogooku command line they run
parses (``--help`` appended: an unknown option or command fails), every file they mount or copy
exists, and the names that tie them together (service, port, job, data source uid, paths) match.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from gogooku.bundle.schedule import parse_args
from gogooku.cli import app

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current)
        current = ""
    assert not current, f"{path.name}: the last instruction ends with a continuation"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def parses(argv: list[str]) -> None:
    """``gogooku ARGV --help`` exits 0: the command and every option in ARGV exist."""
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, (argv, result.output)


def test_the_dockerfile_builds_a_wheel_then_runs_it_as_a_non_root_user():
    steps = dockerfile(DEPLOY / "Dockerfile")
    known = {"ARG", "FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "VOLUME", "EXPOSE"}
    known |= {"HEALTHCHECK", "ENTRYPOINT", "CMD"}
    assert {op for op, _ in steps} <= known
    stages = [args.split() for op, args in steps if op == "FROM"]
    assert [s[1:] for s in stages] == [["AS", "builder"], ["AS", "runtime"]]
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in steps
    assert any(op == "RUN" and "pip wheel" in args for op, args in steps)
    runtime = steps[[op for op, _ in steps].index("FROM", 2) :]
    # every COPY from the build context exists and is let through .dockerignore
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for op, args in steps:
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO / source).exists() and source.rstrip("/") in allowed, source
    assert ("COPY", "--from=builder /wheels /tmp/wheels") in runtime
    user = [args for op, args in runtime if op == "USER"]
    assert user and user[-1] not in ("root", "0")
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for op, a in runtime if op == "ENV")))
    assert ("VOLUME", f'["{env["GOGOOKU_HOME"]}"]') in runtime
    [health] = [args for op, args in runtime if op == "HEALTHCHECK"]
    assert "127.0.0.1:8000/readyz" in health and ("EXPOSE", "8000") in runtime
    [entrypoint] = [json.loads(a) for op, a in runtime if op == "ENTRYPOINT"]
    [cmd] = [json.loads(a) for op, a in runtime if op == "CMD"]
    assert entrypoint == ["gogooku"]
    parses(cmd)
    constraints = (REPO / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0+cpu" in constraints  # the line the CUDA variant's sed rewrites
    [install] = [a for op, a in runtime if op == "RUN" and "constraints.txt" in a]
    assert "s/^torch==\\(.*\\)+cpu$/torch==\\1+${TORCH_VARIANT}/" in install


def test_the_compose_file_wires_service_job_prometheus_and_grafana():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"init", "serve", "update", "prometheus", "grafana"}
    gogooku = {name: services[name] for name in ("init", "serve", "update")}
    assert len({s["image"] for s in gogooku.values()}) == 1
    for name, service in gogooku.items():
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        assert "gogooku-data:/data" in service["volumes"]
        assert service["environment"]["GOGOOKU_HOME"] == "/data"
    for name in ("serve", "update"):
        assert gogooku[name]["depends_on"] == {
            "init": {"condition": "service_completed_successfully"}
        }
    assert gogooku["init"]["entrypoint"] == ["gogooku-job", "init"]
    for name in ("init", "update"):  # jobs, not the service: the image's /readyz check is off
        assert gogooku[name]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in gogooku["serve"]
    parses(gogooku["serve"]["command"])
    entry = gogooku["update"]["entrypoint"]
    assert entry[:3] == ["python", "-m", "gogooku.bundle.schedule"]
    assert parse_args(entry[3:]).command == ["gogooku-job", "update"]
    # every bind-mounted file exists; Prometheus loads the shipped alert rules
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert mounts["../docs/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    [job] = prometheus["scrape_configs"]
    assert job["job_name"] == "gogooku"  # the rules' up{job="gogooku"}
    assert job["static_configs"] == [{"targets": ["serve:8000"]}]
    assert gogooku["serve"]["ports"] == ["${GOGOOKU_PORT:-8000}:8000"]
    # Grafana: the data source the dashboards name, the folder they are provisioned from
    grafana = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert grafana["./grafana/provisioning"] == "/etc/grafana/provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "gogooku.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == grafana["./grafana/dashboards"]
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        uids = {
            target["datasource"]["uid"]
            for panel in json.loads(path.read_text())["panels"]
            for target in panel.get("targets", [])
        }
        assert uids == {source["uid"]}, path.name


def test_the_postgres_override_points_every_gogooku_service_at_one_healthy_store():
    base = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    override = yaml.safe_load((DEPLOY / "compose.postgres.yaml").read_text())["services"]
    postgres = override["postgres"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    user, db = (postgres["environment"][k] for k in ("POSTGRES_USER", "POSTGRES_DB"))
    stores = set()
    for name in ("init", "serve", "update", "serve-2"):
        service = override[name]
        stores.add(service["environment"]["GOGOOKU_STORE"])
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    [store] = stores
    assert store.startswith(f"postgresql://{user}:") and store.endswith(f"@postgres:5432/{db}")
    replica = override["serve-2"]
    for key in ("image", "command", "volumes"):
        assert replica[key] == base["serve"][key], key
    assert replica["environment"]["GOGOOKU_HOME"] == base["serve"]["environment"]["GOGOOKU_HOME"]
    assert "postgres" in (DEPLOY / "Dockerfile").read_text().split("ARG EXTRAS=")[1].split()[0]


def test_the_job_script_runs_valid_gogooku_commands(tmp_path):
    """deploy/job.sh with a stand-in ``gogooku`` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    stub = bin_dir / "gogooku"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GOGOOKU_HOME": str(tmp_path)}
    for job in ("init", "update"):
        subprocess.run(["sh", str(DEPLOY / "job.sh"), job], env=env, check=True)
    calls = [shlex.split(line) for line in log.read_text().splitlines()]
    assert [c[0] for c in calls] == [
        "fetch", "build", "train", "bundle", "promote", "predict", "update",
    ]  # fmt: skip
    for call in calls:
        parses(call)
    assert (
        calls[-1][calls[-1].index("--fetch-start") + 1]
        == "2025-10-01"
        == calls[0][calls[0].index("--start") + 1]
    )  # the daily job names the market the init made
    (tmp_path / "bundles" / "live").mkdir(parents=True)
    (tmp_path / "bundles" / "live" / "CURRENT").write_text("v0001\n")
    done = subprocess.run(
        ["sh", str(DEPLOY / "job.sh"), "init"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "nothing to do" in done.stdout
    assert len(log.read_text().splitlines()) == len(calls)  # no second training
    bad = subprocess.run(["sh", str(DEPLOY / "job.sh")], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: gogooku-job init|update" in bad.stderr


def test_the_systemd_units_run_valid_commands(tmp_path):
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").iterdir()}
    assert set(units) == {"gogooku-serve.service", "gogooku-update.service", "gogooku-update.timer"}
    exec_start = {
        name: shlex.split(re.search(r"^ExecStart=(.+)$", text, re.M).group(1))
        for name, text in units.items()
        if name.endswith(".service")
    }
    assert exec_start["gogooku-serve.service"][:2] == ["/opt/gogooku/bin/gogooku", "serve"]
    parses(exec_start["gogooku-serve.service"][1:])
    update = exec_start["gogooku-update.service"]
    assert update == ["/opt/gogooku/bin/gogooku", "update", "$GOGOOKU_UPDATE_ARGS"]
    example = re.search(r"GOGOOKU_UPDATE_ARGS=(.+)$", units["gogooku-update.service"], re.M)
    parses(["update", *shlex.split(example.group(1))])
    assert "OnCalendar=Mon..Fri 18:30 Asia/Tokyo" in units["gogooku-update.timer"]
    analyze = shutil.which("systemd-analyze")
    if analyze:  # Debian's systemd: the units and the calendar as systemd reads them
        gogooku = Path(sys.executable)  # any executable file stands in for the install path
        for name, text in units.items():
            (tmp_path / name).write_text(text.replace("/opt/gogooku/bin/gogooku", str(gogooku)))
        done = subprocess.run(
            [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        calendar = subprocess.run(
            [analyze, "calendar", "Mon..Fri 18:30 Asia/Tokyo"], capture_output=True, text=True
        )
        assert calendar.returncode == 0 and "Next elapse:" in calendar.stdout


def balanced(expr: str) -> bool:
    """Brackets of a PromQL expression nest and close (outside string literals)."""
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def test_prometheus_reads_the_scrape_config_and_every_dashboard_query(tmp_path):
    """Every dashboard query is a well-formed expression once Grafana's variables are set;
    with Debian's ``promtool`` (package prometheus) also the scrape config, the alert rules it
    loads and every dashboard query (as recording rules) as Prometheus parses them."""
    queries = [
        target["expr"].replace("$__rate_interval", "5m").replace("$model", ".*")
        for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]
    assert queries and all(balanced(q) and "$" not in q for q in queries), queries
    assert not balanced("sum(rate(x[5m])") and balanced('x{a="(("}')
    promtool = shutil.which("promtool")
    if promtool:
        rules = tmp_path / "dashboard_rules.yml"
        records = [{"record": f"dashboard:q{i}", "expr": q} for i, q in enumerate(queries)]
        rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
        alerts = str(REPO / "docs" / "prometheus" / "alerts.yml")
        config = tmp_path / "prometheus.yml"
        text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
        config.write_text(text.replace("/etc/prometheus/alerts.yml", alerts))
        for args in (["check", "config", str(config)], ["check", "rules", str(rules)]):
            done = subprocess.run([promtool, *args], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
