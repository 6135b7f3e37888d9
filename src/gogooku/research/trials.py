"""Trials for ``gogooku ablate --trials FILE``: research ideas that are off in a config, each
switched on by a partial run config, decided on validation like the ablation's switches.

**File.** A TOML file whose every top-level table is one trial: its name (``[a-z0-9_]+``, not
``full`` or a variant's ``no_*`` name) and a partial run config that is merged into the config
under test — tables merged key by key, any other value (lists included) replacing the config's —
and validated again as a whole, so an unknown key is refused with the trial's name::

    [mse.loss]
    mse = 0.5

    [dmn.loss]
    dmn = 0.1
    [dmn.data.loader]
    contiguous_days = true

**Rule (validation only).** d_t = r_t(trial) − r_t(full) on the (fit, day) pairs both have
(:func:`gogooku.research.ablation.validation_decision` with the trial in the first place): the
trial is **adopted only if mean(d) > 0**. The test record (trial − full) is reported beside it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path

from gogooku.config import ConfigError, read_toml
from gogooku.train.config import RunConfig, validate_run_config

TRIAL_NAME = re.compile(r"[a-z0-9_]+")
RULE = (
    "adopt a trial only if mean daily validation RankIC(trial) − RankIC(full) > 0; test days "
    "are reported, never decided on"
)


def read_trials(path: str | Path, taken: set[str]) -> dict[str, dict]:
    """name → partial run config of every top-level table of the TOML file ``path``; names in
    ``taken`` (``full``, the variants) or not ``[a-z0-9_]+`` are refused, as is a file without a
    table or a top-level value that is not one."""
    doc = read_toml(path)
    if not doc:
        raise ConfigError(f"{path}: no trial: expected one table per trial, e.g. [mse.loss]")
    for name, update in doc.items():
        if not isinstance(update, dict) or not update:
            raise ConfigError(
                f"{path}: {name} = {update!r}: a trial is a table of run-config sections, "
                f"e.g. [{name}.loss]"
            )
        if not TRIAL_NAME.fullmatch(name) or name in taken:
            raise ConfigError(
                f"{path}: trial name {name!r}: expected lower-case letters, digits and _, not one "
                f"of {', '.join(sorted(taken))}"
            )
    return doc


def merged(base: Mapping, update: Mapping) -> dict:
    """A copy of ``base`` with ``update`` merged in: tables key by key, other values replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def trial_config(cfg: RunConfig, name: str, update: Mapping, source: str | Path) -> RunConfig:
    """``cfg`` with the trial ``update`` merged in, validated again; errors name ``source`` and
    the trial."""
    return validate_run_config(merged(cfg.model_dump(mode="python"), update), f"{source} [{name}]")
