"""ServeConfig loading, the key file and the token bucket (no server)."""

from __future__ import annotations

import json

import pytest

from gogooku.config import ConfigError
from gogooku.serve.auth import KeyFileError, KeyStore, RateLimiter, add_key, key_hash, revoke_key
from gogooku.serve.config import load_serve_config


def test_config_from_toml_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "serve.toml"
    path.write_text('models = ["a", "b"]\nrate_per_s = 5.0\nmax_data_age_s = 0\n')
    cfg = load_serve_config(path)
    assert cfg.models == ["a", "b"] and cfg.rate_per_s == 5.0 and cfg.max_data_age_s == 0
    monkeypatch.setenv("GOGOOKU_SERVE_CONFIG", str(path))
    monkeypatch.setenv("GOGOOKU_SERVE_MODELS", "c, d")
    monkeypatch.setenv("GOGOOKU_API_KEYS_FILE", str(tmp_path / "k.json"))
    cfg = load_serve_config()
    assert cfg.models == ["c", "d"] and cfg.keys_path == tmp_path / "k.json"
    path.write_text("rate_limit = 3\n")
    with pytest.raises(ConfigError, match=r"serve\.toml: rate_limit: unknown key"):
        load_serve_config(path)
    path.write_text("rate_burst = 0\n")
    with pytest.raises(ConfigError, match="rate_burst"):
        load_serve_config(path)


def test_key_file_stores_hashes_and_revocation_is_seen_without_restart(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "alice")
    text = path.read_text()
    assert key not in text and key_hash(key) in text
    assert (path.stat().st_mode & 0o777) == 0o600
    store = KeyStore(path)
    assert store.lookup(key).name == "alice" and not store.lookup(key).revoked
    assert store.lookup("other") is None
    revoke_key(path, "alice")
    assert store.lookup(key).revoked
    with pytest.raises(KeyFileError, match="exists"):
        add_key(path, "alice")
    with pytest.raises(KeyFileError, match="no key named 'bob'"):
        revoke_key(path, "bob")
    path.write_text(json.dumps({"nope": []}))
    with pytest.raises(KeyFileError, match="not a key file"):
        KeyStore(path).lookup(key)


def test_token_bucket_allows_the_burst_then_refills(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("gogooku.serve.auth.time.monotonic", lambda: now[0])
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    assert limiter.take("a") == 1  # (1 - 0 tokens) / 2 per s -> 1 s after rounding up
    assert limiter.take("b") is None  # buckets are per key
    now[0] += 0.5  # one token back
    assert limiter.take("a") is None and limiter.take("a") == 1
    now[0] += 100
    assert [limiter.take("a") for _ in range(4)][-1] == 1  # capped at the burst


def test_header_timeout_is_read_from_the_service_config(tmp_path, monkeypatch):
    from gogooku.serve import protocol

    path = tmp_path / "serve.toml"
    path.write_text("header_timeout_s = 2.5\n")
    monkeypatch.setenv("GOGOOKU_SERVE_CONFIG", str(path))
    protocol.header_timeout_s.cache_clear()
    try:
        assert protocol.header_timeout_s() == 2.5
    finally:
        protocol.header_timeout_s.cache_clear()
    path.write_text("header_timeout_s = 0\n")
    with pytest.raises(ConfigError, match="header_timeout_s"):
        load_serve_config(path)


def test_every_field_of_serve_config_reaches_the_app_that_serve_runs(tmp_path, monkeypatch):
    """``gogooku serve --config F --bundle B`` → the uvicorn factory builds its app from F and B:
    every ServeConfig field, each set away from its default, is the running app's value."""
    import secrets

    from typer.testing import CliRunner

    from gogooku.cli import app as cli
    from gogooku.serve.app import create_app
    from gogooku.serve.config import ServeConfig

    key = tmp_path / "bundle.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    values = {
        "models": ["only"],
        "api_keys_file": tmp_path / "keys.json",
        "rate_per_s": 7.5,
        "rate_burst": 3,
        "max_body_bytes": 1234,
        "max_data_age_s": 60.0,
        "default_top_k": 4,
        "max_top_k": 9,
        "max_predict_rows": 11,
        "header_timeout_s": 2.5,
        "response_cache_mb": 8.0,
        "bundle_check_s": 0.25,
        "protect_ops": True,
        "bundle_key_file": key,
        "require_signed_bundles": True,
    }
    assert set(values) == set(ServeConfig.model_fields)  # a new field must be added here
    defaults = ServeConfig()
    assert all(getattr(defaults, k) != v for k, v in values.items())
    path = tmp_path / "serve.toml"
    lines = [f"{k} = {json.dumps(str(v) if k.endswith('file') else v)}" for k, v in values.items()]
    path.write_text("\n".join(line.replace("True", "true") for line in lines) + "\n")
    path.write_text(path.read_text().replace('models = ["only"]', 'models = ["ignored"]'))
    ran: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: ran.update(target=target, **kw))
    for name in ("GOGOOKU_SERVE_CONFIG", "GOGOOKU_SERVE_MODELS"):
        monkeypatch.setenv(name, "")  # recorded, so the values serve sets are undone at teardown
        monkeypatch.delenv(name)
    result = CliRunner().invoke(cli, ["serve", "--config", str(path), "--bundle", "only"])
    assert result.exit_code == 0, result.output
    assert ran["target"] == "gogooku.serve.app:create_app" and ran["factory"] is True
    running = create_app()  # what uvicorn's factory call builds, in the environment serve set
    assert running.state.config.model_dump() == values
