"""The promotion rule of a shadow version (``gogooku promote NAME --if-better --days N``).

The shadow S and the promoted version C of NAME are compared on the last N prediction days on
which **both** have a matured, defined live RankIC (``live_scores``; ``gogooku monitor``). With
the daily differences dᵢ = RankIC_S(i) − RankIC_C(i), S is promoted when

    mean(d) > 0   and   p < alpha,   p = one-sided paired t-test of mean(d) > 0 (n − 1 df)

(``gogooku.bundle.livestats.paired_t_one_sided``). The paired test, rather than a comparison of
the two means, is what keeps a lucky week from replacing a model: the daily RankICs of two
models on the same stocks move together, so their difference is much less noisy than either.
Fewer than N common matured days (or N < 2) is no promotion. Every decision — promoted or not,
with the figures and the reason — is appended to NAME's audit log as ``promote-rule``; a
promotion then goes through ``promote`` (audited ``promote``, the shadow pointer removed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import polars as pl

from gogooku.bundle.livestats import paired_t_one_sided
from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.store import (
    BundleError,
    audit_decision,
    check_name,
    current_version,
    promote,
    shadow_version,
)

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Decision:
    """The figures of one rule decision (what the audit log's ``detail`` holds)."""

    promoted: bool
    reason: str
    current: str
    shadow: str
    days: int
    common_days: int
    first: str | None
    last: str | None
    mean_current: float | None
    mean_shadow: float | None
    mean_diff: float | None
    t: float | None
    p: float | None
    alpha: float


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def common_rankic(model: str, current: str, shadow: str, live: LiveStore) -> pl.DataFrame:
    """``date, current, shadow``: the daily RankICs of both versions on their common matured
    days with a defined value, oldest first."""
    frames = [
        live.live_series(model, v)
        .filter(pl.col("rankic").is_not_null())
        .select("date", pl.col("rankic").alias(role))
        for v, role in ((current, "current"), (shadow, "shadow"))
    ]
    return frames[0].join(frames[1], on="date").sort("date")


def decide(
    name: str, days: int, alpha: float = DEFAULT_ALPHA, live: LiveStore | None = None
) -> Decision:
    """Apply the rule to NAME's shadow (module doc), promote when it wins, audit the decision."""
    check_name(name)
    if days < 2:
        raise BundleError(f"--days {days}: the paired test needs at least 2 days")
    current, shadow = current_version(name), shadow_version(name)
    if current is None or shadow is None:
        missing = "promoted" if current is None else "shadow"
        raise BundleError(f"bundle {name!r} has no {missing} version to compare")
    pairs = common_rankic(name, current, shadow, live or LiveStore()).tail(days)
    n = pairs.height
    base = {"current": current, "shadow": shadow, "days": days, "common_days": n, "alpha": alpha}
    if n < days:
        decision = Decision(
            promoted=False,
            reason=f"only {n} common matured days, {days} needed (run gogooku monitor)",
            first=None,
            last=None,
            mean_current=None,
            mean_shadow=None,
            mean_diff=None,
            t=None,
            p=None,
            **base,
        )
    else:
        diff = (pairs["shadow"] - pairs["current"]).to_numpy()
        t, p = paired_t_one_sided(diff)
        mean_diff = float(diff.mean())
        wins = mean_diff > 0 and math.isfinite(p) and p < alpha
        decision = Decision(
            promoted=wins,
            reason=(
                f"shadow beats current: mean daily RankIC difference {mean_diff:+.4f}, "
                f"one-sided paired t p={p:.4g} < {alpha}"
                if wins
                else f"not better: mean daily RankIC difference {mean_diff:+.4f}, one-sided "
                f"paired t p={p:.4g} (needs > 0 and p < {alpha})"
            ),
            first=str(pairs["date"][0]),
            last=str(pairs["date"][-1]),
            mean_current=float(pairs["current"].mean()),
            mean_shadow=float(pairs["shadow"].mean()),
            mean_diff=mean_diff,
            t=_finite(t),
            p=_finite(p),
            **base,
        )
    audit_decision(
        name, "promote-rule", current, shadow if decision.promoted else current, asdict(decision)
    )
    if decision.promoted:
        promote(name, shadow)
    return decision
