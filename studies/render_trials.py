"""Markdown tables of ``studies/trials.py``'s records (docs/models.md, "Trials"):

    python studies/render_trials.py [studies/results/trials_apex_seed7.json ...]

(default: every ``studies/results/trials_*_seed*.json``). One table per model kind: a row per
trial (trial − full) and per switch variant (full − variant), a column group per market seed:
the paired validation difference of mean daily RankIC(5d) with its 95 % interval and the
decision it gives, then the test differences (reported only) of RankIC(5d) and long-short net
Sharpe(5d); with several seeds, the pooled validation difference (the mean over every seed's
validation days, Σ n_s·d_s / Σ n_s) and the decision it gives, which is the one a shipped config
follows. Prints to stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def ci(entry: dict, digits: int = 4) -> str:
    def shown(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.{digits}f}"

    return f"{shown(entry['estimate'])} [{shown(entry['low'])}, {shown(entry['high'])}]"


def decision(valid: dict, trial: bool) -> str:
    word = (
        ("adopt" if valid["keep"] else "leave off")
        if trial
        else ("keep" if valid["keep"] else "off")
    )
    return word + (" (clear)" if valid["clear"] else "")


def rows(record: dict) -> dict[str, tuple[dict, bool]]:
    """name → (entry, is a trial), the trials first."""
    out = {f"+ {n}": (e, True) for n, e in record.get("trials", {}).items()}
    out |= {f"− {n.removeprefix('no_')}": (e, False) for n, e in record["variants"].items()}
    return out


def pooled(entries: list[tuple[dict, bool] | None]) -> list[str]:
    """The pooled validation difference Σ n_s·d_s / Σ n_s and its decision (the trial adopted,
    the component kept, only if > 0); "—" unless every seed has the row."""
    if any(e is None for e in entries):
        return ["—", "—"]
    valid = [e[0]["valid"] for e in entries]
    n = sum(v["n_days"] for v in valid)
    d = sum(v["n_days"] * v["rank_ic_diff"]["estimate"] for v in valid) / n
    word = ("adopt" if d > 0 else "leave off") if entries[0][1] else ("keep" if d > 0 else "off")
    return [f"{d:+.4f} ({n} days)", word]


def table(kind: str, records: list[dict]) -> str:
    seeds = [r["market"]["seed"] for r in records]
    head = ["idea"]
    for s in seeds:
        head += [f"s{s} Δ valid RankIC [95 %]", f"s{s} decision", f"s{s} Δ test RankIC [95 %]",
                 f"s{s} Δ test LS Sharpe [95 %]"]  # fmt: skip
    if len(records) > 1:
        head += ["pooled Δ valid RankIC", "decision (pooled)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(n for r in records for n in rows(r)))
    for name in names:
        cells = [f"`{name}`"]
        for record in records:
            entry = rows(record).get(name)
            if entry is None:
                cells += ["—"] * 4
                continue
            e, trial = entry
            cells += [ci(e["valid"]["rank_ic_diff"]), decision(e["valid"], trial),
                      ci(e["test"]["rank_ic_diff"]), ci(e["test"]["ls_sharpe_diff"], 2)]  # fmt: skip
        if len(records) > 1:
            cells += pooled([rows(r).get(name) for r in records])
        lines.append("| " + " | ".join(cells) + " |")
    full = "; ".join(
        f"seed {r['market']['seed']}: full valid RankIC(5d) "
        f"{next(iter(rows(r).values()))[0]['valid']['full_rank_ic']:.4f}, test "
        f"{next(iter(rows(r).values()))[0]['test']['full_rank_ic']:.4f}, "
        f"{r['wall_s'] / 60:.0f} min wall, {r['cpu_s']:.0f} CPU-s"
        for r in records
    )
    return f"**{kind}** ({full})\n\n" + "\n".join(lines)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted(RESULTS.glob("trials_*_seed*.json"))
    by_kind: dict[str, list[dict]] = {}
    for path in paths:
        record = json.loads(path.read_text())
        by_kind.setdefault(record["kind"], []).append(record)
    for kind, records in by_kind.items():
        records.sort(key=lambda r: r["market"]["seed"])
        print(table(kind, records) + "\n")


if __name__ == "__main__":
    main()
