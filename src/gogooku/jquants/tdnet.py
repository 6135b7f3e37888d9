"""TDnet disclosure-item codes (``DiscItems``) and the categories the ``td_*`` block counts.

The official code list of ``/td/list``'s ``DiscItems`` is not published (reference §2.7 T1:
"item codes", no table). This project uses its own small list, chosen and documented in
``docs/synthetic_market.md``; the synthetic market writes it and the feature block reads it.
Against the real API the list would be replaced by the official codes in this one place.

A forecast revision carries its direction in its item code (``201`` up, ``202`` down) rather than
in the title, so no title text is ever parsed. A correction is a new record (new ``DiscNo``,
``RevNo`` stays 1, as the API does today) whose title starts with ``（訂正）`` and whose only
item is ``999``.
"""

from __future__ import annotations

EARNINGS = "101"  # 決算短信 (earnings release, aligned with fins/summary)
REVISION_UP = "201"  # 業績予想の修正 (upward)
REVISION_DOWN = "202"  # 業績予想の修正 (downward)
DIVIDEND_UP = "301"  # 配当予想の修正 (increase)
DIVIDEND_DOWN = "302"  # 配当予想の修正 (decrease)
BUYBACK = "401"  # 自己株式の取得 (share buyback)
MNA = "501"  # 合併・買収・資本提携 (M&A)
OTHER = "901"  # その他 (personnel, governance, ...)
CORRECTION = "999"  # 訂正 (correction of an earlier disclosure)

ITEM_CODES: dict[str, str] = {
    EARNINGS: "決算短信",
    REVISION_UP: "業績予想の修正（上方）",
    REVISION_DOWN: "業績予想の修正（下方）",
    DIVIDEND_UP: "配当予想の修正（増配）",
    DIVIDEND_DOWN: "配当予想の修正（減配）",
    BUYBACK: "自己株式の取得",
    MNA: "合併・買収・資本提携",
    OTHER: "その他",
    CORRECTION: "訂正",
}

# Feature categories of the td block: name -> the item codes any of which puts a record in it.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "earn": (EARNINGS,),
    "div": (DIVIDEND_UP, DIVIDEND_DOWN),
    "buyback": (BUYBACK,),
    "mna": (MNA,),
}

DOC_KINDS = {"g": "pdf", "s": "summaryPdf", "x": "xbrl"}  # Docs letter -> /td/files key
