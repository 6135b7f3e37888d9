"""The command line: errors mapped in one place, lazy commands (fast --help), plain help texts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from gogooku.cli import COMMANDS, app
from gogooku.config import ConfigError
from gogooku.train.diagnostics import CollapseError

runner = CliRunner()

# imported by no `gogooku --help`, `gogooku CMD --help` or `import gogooku.cli`
HEAVY = {"torch", "torch_geometric", "lightgbm", "optuna", "fastapi", "uvicorn", "mlflow"}
# nor by `gogooku --help` / `import gogooku.cli`
LISTING_HEAVY = HEAVY | {"sklearn", "scipy", "plotly", "pandas"}

_PROBE = """
import json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import gogooku.cli
else:
    sys.argv = ["gogooku", *argv]
    from gogooku.cli import app
    try:
        app()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print("\\nMODULES", json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _run(argv: list[str] | None, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """(stdout before the module list, top-level modules imported) of a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    out, _, modules = proc.stdout.rpartition("\nMODULES ")
    return out, set(json.loads(modules))


@pytest.mark.parametrize("argv", [None, ["--help"]])
def test_import_and_help_load_no_heavy_stack(argv):
    out, modules = _run(argv)
    assert not modules & LISTING_HEAVY
    if argv:
        for name in COMMANDS:
            assert f"\n  {name} " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--help"],
        ["hpo", "--help"],
        ["demo", "--help"],
        ["serve", "--help"],
        ["bundle", "--help"],
        ["bundle", "list", "--help"],
        ["predict", "--help"],
        ["evaluate", "--help"],
        ["splits", "--help"],
        ["export", "returns", "--help"],
    ],
)
def test_command_help_loads_no_heavy_stack(argv):
    out, modules = _run(argv)
    assert not modules & HEAVY
    assert out.startswith(f"Usage: gogooku {' '.join(argv[:-1])} [OPTIONS]")


def test_completion_lists_commands_without_loading_them():
    complete = {"_GOGOOKU_COMPLETE": "complete_bash", "COMP_WORDS": "gogooku tr", "COMP_CWORD": "1"}
    out, modules = _run([], {**os.environ, **complete})
    assert out.split() == ["train"]
    assert not modules & LISTING_HEAVY


def test_train_help_lists_its_options():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--dataset", "--config", "--run", "--fold", "--resume", "--set"):
        assert option in result.output
    for command in ("train", "ablate", "hpo", "splits"):
        text = " ".join(runner.invoke(app, [command, "--help"]).output.split())
        assert "--set KEY=VALUE" in text, command
        if command in ("train", "ablate"):
            assert "default: the last fold" in text and "count from the end" in text, command


def test_help_texts_show_brackets():
    splits = " ".join(runner.invoke(app, ["splits", "--help"]).output.split())
    assert "for the [splits] of a data config or the [data.splits] of a run config" in splits
    assert "A data config with [splits] or a run config with [data.splits]" in splits
    hpo = " ".join(runner.invoke(app, ["hpo", "--help"]).output.split())
    assert "with a [search] table" in hpo


def test_listed_help_is_each_commands_own():
    group = typer.main.get_command(app)
    for name, spec in COMMANDS.items():
        command = group.get_command(None, name)
        assert command is not None, name
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert spec.help == own, name


def test_spelled_out_choices_match_the_code():
    from gogooku.hpo import cli as hpo_cli
    from gogooku.hpo.study import PRUNERS
    from gogooku.models.registry import BUILTIN
    from gogooku.train import cli as train_cli

    kinds = f"Model kind: one of {', '.join(BUILTIN)}."
    assert train_cli.KINDS_HELP == hpo_cli.KINDS_HELP == kinds
    pruners = f"One of {', '.join(PRUNERS)}."
    assert pruners == hpo_cli.PRUNERS_HELP


def test_a_gogooku_error_is_its_message_and_exit_code(monkeypatch, tmp_path):
    from gogooku.evaluate import evaluator

    def fail(error):
        def evaluate_run(*args, **kwargs):
            raise error

        return evaluate_run

    monkeypatch.setattr(evaluator, "evaluate_run", fail(ConfigError("x.toml: lr: too large")))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text("{}")
    args = ["evaluate", "--run", str(tmp_path / "r")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output == "evaluate failed: x.toml: lr: too large\n"
    monkeypatch.setattr(evaluator, "evaluate_run", fail(CollapseError("prediction collapse")))
    result = runner.invoke(app, args)
    assert result.exit_code == 3 and result.output == "evaluate failed: prediction collapse\n"
    monkeypatch.setattr(evaluator, "evaluate_run", fail(KeyError("a bug")))
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)  # traceback kept


def test_errors_of_sub_app_commands_name_the_command(tmp_path):
    keys = tmp_path / "keys.json"
    result = runner.invoke(app, ["apikey", "revoke", "ghost", "--file", str(keys)])
    assert result.exit_code == 1
    assert result.output.startswith("apikey revoke failed: ")
    assert runner.invoke(app, ["apikey", "add", "me", "--file", str(keys)]).exit_code == 0
    listed = runner.invoke(app, ["apikey", "list", "--file", str(keys), "--json"])
    assert listed.exit_code == 0
    [row] = json.loads(listed.output)
    assert (
        row["name"] == "me"
        and row["revoked"] is False
        and set(row)
        == {
            "name",
            "created_at",
            "revoked",
        }
    )


def test_usage_errors_exit_2_and_suggest_any_command():
    result = runner.invoke(app, ["trian"])
    assert result.exit_code == 2 and "Did you mean 'train'?" in result.output
    assert runner.invoke(app, ["train", "--fold", "x"]).exit_code == 2


def test_store_status_json_on_an_empty_store():
    result = runner.invoke(app, ["store", "status", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_apikey_list_names_a_corrupt_key_file(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text('{"keys": [{"name": ')
    result = runner.invoke(app, ["apikey", "list", "--file", str(keys)])
    assert result.exit_code == 1
    assert result.output.startswith(f"apikey list failed: {keys}: not a key file")
