"""Field lists of the J-Quants V2 endpoints: V2 short names in response order, typed by wire kind.

Each field has a *kind* that fixes both its Polars dtype and how the API writes it on the wire:

==========  ================  ====================================================================
kind        Polars dtype      wire form
==========  ================  ====================================================================
``date``    ``pl.Date``       ``"YYYY-MM-DD"``
``str``     ``pl.String``     JSON string (codes, names, categorical codes such as ``S33``)
``time``    ``pl.String``     ``"HH:MM:SS"`` or ``"HH:MM"`` (kept as sent)
``minute``  ``pl.String``     a bar's minute: ``"HH:MM"``; ``"HH:MM:SS"`` is accepted and stored
                              as ``"HH:MM"`` (minute bars; the API's exact form is unknown)
``flag``    ``pl.Boolean``    ``"0"`` / ``"1"``
``tf``      ``pl.Boolean``    ``"true"`` / ``"false"`` (fins/summary flags)
``num``     ``pl.Float64``    JSON number
``numstr``  ``pl.Float64``    numeric string (fins/summary writes every number as a string)
``struct``  ``pl.Struct``     JSON object of ``flag`` sub-fields (margin-alert ``PubReason``)
``json``    ``pl.String``     JSON object or list whose members vary by record or are undocumented
                              (fins/details ``FS``, the EDINET holder lists), stored as its
                              compact JSON text with sorted keys
``list``    ``pl.String``     JSON array of strings (TDnet ``DiscItems``, ``Docs``), stored
                              ``|``-joined as the bulk CSV writes it (``[]`` ↔ ``""`` ↔ null)
==========  ================  ====================================================================

``null`` is the token the API writes for a missing value: ``None`` (JSON null), ``""``, ``"-"`` or
``"*"``. Parsing maps every one of them to null; rendering writes the field's own token back.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

KINDS = ("date", "str", "time", "minute", "flag", "tf", "num", "numstr", "struct", "json", "list")


@dataclass(frozen=True)
class FieldSpec:
    """One V2 response field: name, wire kind, null token and (for ``struct``) its sub-fields."""

    name: str
    kind: str
    null: str | None = None
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"field {self.name}: unknown kind {self.kind!r}, expected one of {KINDS}"
            )

    @property
    def dtype(self) -> pl.DataType:
        if self.kind == "struct":
            return pl.Struct(dict.fromkeys(self.members, pl.Boolean))
        return {
            "date": pl.Date(),
            "str": pl.String(),
            "list": pl.String(),
            "time": pl.String(),
            "minute": pl.String(),
            "flag": pl.Boolean(),
            "tf": pl.Boolean(),
            "num": pl.Float64(),
            "numstr": pl.Float64(),
            "json": pl.String(),
        }[self.kind]


def fields(kind: str, names: str, null: str | None = None) -> tuple[FieldSpec, ...]:
    """FieldSpecs of one kind for the whitespace-separated ``names``."""
    return tuple(FieldSpec(name, kind, null) for name in names.split())


def _session(prefix: str, kind: str = "num", null: str | None = None) -> tuple[FieldSpec, ...]:
    return fields(kind, " ".join(f"{prefix}{x}" for x in ("O", "H", "L", "C")), null)


EQUITIES_MASTER = (
    *fields("date", "Date"),
    *fields("str", "Code CoName CoNameEn S17 S17Nm S33 S33Nm"),
    *fields("str", "ScaleCat", "-"),
    *fields("str", "Mkt MktNm Mrgn MrgnNm ProdCat"),
)

_BARS_MORNING = (
    *_session("M"),
    *fields("flag", "MUL MLL"),
    *fields("num", "MVo MVa MAdjO MAdjH MAdjL MAdjC MAdjVo"),
)
_BARS_AFTERNOON = (
    *_session("A"),
    *fields("flag", "AUL ALL"),
    *fields("num", "AVo AVa AAdjO AAdjH AAdjL AAdjC AAdjVo"),
)
EQUITIES_BARS_DAILY = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *_session(""),
    *fields("flag", "UL LL"),
    *fields("num", "Vo Va AdjFactor AdjO AdjH AdjL AdjC AdjVo"),
    *_BARS_MORNING,
    *_BARS_AFTERNOON,
    *fields("num", "MktCap"),
    *fields("str", "ExRT"),
)
BARS_PREMIUM_FIELDS = frozenset(spec.name for spec in (*_BARS_MORNING, *_BARS_AFTERNOON))

MARKETS_CALENDAR = (*fields("date", "Date"), *fields("str", "HolDiv"))

INDICES_TOPIX = (*fields("date", "Date"), *_session(""))

INDICES_BARS_DAILY = (*fields("date", "Date"), *fields("str", "Code"), *_session(""))

INVESTOR_GROUPS = (
    "Prop",
    "Brk",
    "Tot",
    "Ind",
    "Frgn",
    "SecCo",
    "InvTr",
    "BusCo",
    "OthCo",
    "InsCo",
    "Bank",
    "TrstBnk",
    "OthFin",
)
EQUITIES_INVESTOR_TYPES = (
    *fields("date", "PubDate StDate EnDate"),
    *fields("str", "Section"),
    *fields(
        "num",
        " ".join(f"{g}{m}" for g in INVESTOR_GROUPS for m in ("Sell", "Buy", "Tot", "Bal")),
    ),
)

# One schema for both regimes: weekly rows (application Date before 2026-09-25) lack ``PubDate``
# and the ``*Val`` amounts, which parse to null; daily rows carry all 16 fields.
MARKETS_MARGIN_INTEREST = (
    *fields("date", "PubDate"),
    *fields("date", "Date"),
    *fields("str", "Code"),
    *fields("num", "ShrtVol LongVol ShrtNegVol LongNegVol ShrtStdVol LongStdVol"),
    *fields("num", "ShrtVal LongVal ShrtNegVal LongNegVal ShrtStdVal LongStdVal"),
    *fields("str", "IssType"),
)

PUB_REASONS = (
    "Restricted",
    "DailyPublication",
    "Monitoring",
    "RestrictedByJSF",
    "PrecautionByJSF",
    "UnclearOrSecOnAlert",
)
MARKETS_MARGIN_ALERT = (
    *fields("date", "PubDate"),
    *fields("str", "Code"),
    *fields("date", "AppDate"),
    FieldSpec("PubReason", "struct", None, PUB_REASONS),
    *fields("num", "ShrtOut"),
    *fields("num", "ShrtOutChg", "-"),
    *fields("num", "ShrtOutRatio", "*"),
    *fields("num", "LongOut"),
    *fields("num", "LongOutChg", "-"),
    *fields("num", "LongOutRatio", "*"),
    *fields("num", "SLRatio ShrtNegOut"),
    *fields("num", "ShrtNegOutChg", "-"),
    *fields("num", "ShrtStdOut"),
    *fields("num", "ShrtStdOutChg", "-"),
    *fields("num", "LongNegOut"),
    *fields("num", "LongNegOutChg", "-"),
    *fields("num", "LongStdOut"),
    *fields("num", "LongStdOutChg", "-"),
    *fields("str", "TSEMrgnRegCls"),
)

MARKETS_SHORT_RATIO = (
    *fields("date", "Date"),
    *fields("str", "S33"),
    *fields("num", "SellExShortVa ShrtWithResVa ShrtNoResVa"),
)

MARKETS_SHORT_SALE_REPORT = (
    *fields("date", "DiscDate CalcDate"),
    *fields("str", "Code SSName SSAddr DICName DICAddr FundName"),
    *fields("num", "ShrtPosToSO ShrtPosShares ShrtPosUnits"),
    *fields("date", "PrevRptDate"),
    *fields("num", "PrevRptRatio"),
    *fields("str", "Notes"),
)

OPTIONS_225 = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *_session(""),
    *_session("E", null=""),
    *_session("A"),
    *fields("num", "Vo OI Va"),
    *fields("str", "CM"),
    *fields("num", "Strike VoOA"),
    *fields("str", "EmMrgnTrgDiv PCDiv"),
    *fields("date", "LTD SQD"),
    *fields("num", "Settle Theo BaseVol UnderPx IV IR"),
)

FUTURES = (
    *fields("str", "Code ProdCat"),
    *fields("date", "Date"),
    *_session(""),
    *_session("M", null=""),
    *_session("E", null=""),
    *_session("A"),
    *fields("num", "Vo OI Va"),
    *fields("str", "CM"),
    *fields("num", "VoOA"),
    *fields("str", "EmMrgnTrgDiv"),
    *fields("date", "LTD SQD"),
    *fields("num", "Settle"),
    *fields("flag", "CCMFlag"),
)

_FINS_NUMBERS_1 = """
Sales OP OdP NP EPS DEPS TA Eq ShEq EqAR ROE BPS CFO CFI CFF CashEq
Div1Q Div2Q Div3Q DivFY DivAnn DivUnit DivTotalAnn PayoutRatioAnn
FDiv1Q FDiv2Q FDiv3Q FDivFY FDivAnn FDivUnit FDivTotalAnn FPayoutRatioAnn
NxFDiv1Q NxFDiv2Q NxFDiv3Q NxFDivFY NxFDivAnn NxFDivUnit NxFPayoutRatioAnn
FSales2Q FOP2Q FOdP2Q FNP2Q FEPS2Q NxFSales2Q NxFOP2Q NxFOdP2Q NxFNp2Q NxFEPS2Q
FSales FOP FOdP FNP FEPS NxFSales NxFOP NxFOdP NxFNp NxFEPS
"""
_FINS_NUMBERS_2 = """
ShOutFY TrShFY AvgSh
NCSales NCOP NCOdP NCNP NCEPS NCTA NCEq NCShEq NCEqAR NCROE NCBPS
FNCSales2Q FNCOP2Q FNCOdP2Q FNCNP2Q FNCEPS2Q NxFNCSales2Q NxFNCOP2Q NxFNCOdP2Q NxFNCNP2Q NxFNCEPS2Q
FNCSales FNCOP FNCOdP FNCNP FNCEPS NxFNCSales NxFNCOP NxFNCOdP NxFNCNP NxFNCEPS
"""
FINS_SUMMARY = (
    *fields("date", "DiscDate"),
    *fields("time", "DiscTime"),
    *fields("str", "Code DiscNo DocType CurPerType", ""),
    *fields("date", "CurPerSt CurPerEn CurFYSt CurFYEn NxtFYSt NxtFYEn", ""),
    *fields("numstr", _FINS_NUMBERS_1, ""),
    *fields("tf", "MatChgSub SigChgInC ChgByASRev ChgNoASRev ChgAcEst RetroRst", ""),
    *fields("numstr", _FINS_NUMBERS_2, ""),
)

FINS_EARNINGS_DATE = (
    *fields("date", "PubDate"),
    *fields("date", "SchDate", ""),
    *fields("str", "FQName FYE Code CoName CoNameEn"),
)

EQUITIES_EARNINGS_CALENDAR = (
    *fields("date", "Date", ""),
    *fields("str", "Code CoName FY SectorNm FQ Section"),
)

FINS_DETAILS = (
    *fields("date", "DiscDate"),
    *fields("time", "DiscTime"),
    *fields("str", "Code DiscNo DocType", ""),
    FieldSpec("FS", "json"),
)
# Not on the wire: read from ``FS`` at parse time (``gogooku.jquants.fs_labels``).
FINS_DETAILS_ITEMS = (
    *fields("str", "AcctStd PerType"),
    *fields("num", "TA CurA CurL Cash Recv Inv PPE TL Eq Debt Sales OP NP CFO CFI Capex Dep"),
)

EQUITIES_VALUATION = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *fields("num", "EPS FwdEPS BPS ROE FwdROE PER FwdPER PBR MktCap"),
)

EQUITIES_BARS_MINUTE = (
    *fields("date", "Date"),
    *fields("minute", "Time"),
    *fields("str", "Code"),
    *_session(""),
    *fields("num", "Vo Va"),
)

EQUITIES_TRADES = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *fields("time", "Time"),
    *fields("str", "SessionDistinction"),
    *fields("num", "Price TradingVolume"),
    *fields("str", "TransactionId"),
)

EQUITIES_BARS_DAILY_AM = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *_session("M"),
    *fields("num", "MVo MVa"),
)

TD_LIST = (
    *fields("str", "DiscNo Code Name"),
    *fields("date", "DiscDate"),
    *fields("time", "DiscTime"),
    *fields("str", "Title DiscStatus RevNo"),
    *fields("list", "DiscItems Docs"),
)

FINS_DIVIDEND = (
    *fields("date", "PubDate"),
    *fields("time", "PubTime"),
    *fields("str", "Code RefNo StatCode"),
    *fields("date", "BoardDate"),
    *fields("str", "IFCode FRCode IFTerm"),
    *fields("num", "DivRate", "-"),
    *fields("date", "RecDate ExDate ActRecDate"),
    *fields("date", "PayDate", "-"),
    *fields("str", "CARefNo"),
    *fields("num", "DistAmt RetEarn DeemDiv DeemCapGains NetAssetDecRatio", ""),
    *fields("str", "CommSpecCode"),
    *fields("num", "CommDivRate SpecDivRate", ""),
)

MARKETS_BREAKDOWN = (
    *fields("date", "Date"),
    *fields("str", "Code"),
    *fields(
        "num",
        " ".join(
            f"{split}{unit}"
            for unit in ("Va", "Vo")
            for split in (
                "LongSell",
                "ShrtNoMrgn",
                "MrgnSellNew",
                "MrgnSellClose",
                "LongBuy",
                "MrgnBuyNew",
                "MrgnBuyClose",
            )
        ),
    ),
)

OPTIONS = (
    *fields("str", "Code ProdCat UndSSO"),
    *fields("date", "Date"),
    *_session(""),
    *_session("M", null=""),
    *_session("E", null=""),
    *_session("A"),
    *fields("num", "Vo OI Va"),
    *fields("str", "CM"),
    *fields("num", "Strike VoOA"),
    *fields("str", "EmMrgnTrgDiv PCDiv"),
    *fields("date", "LTD SQD"),
    *fields("num", "Settle Theo BaseVol UnderPx IV IR"),
    *fields("flag", "CCMFlag"),
)

# EDINET (reference section 2.6). The nested lists' sub-fields are undocumented; the names chosen
# for them are in docs/architecture.md ("EDINET nested fields"), and the store keeps the JSON text
# whole, so a real response's other names survive parsing.
_EDINET_DOC = fields("str", "DocId Code EdinetCode")
EDINET_MAJOR_SHAREHOLDERS = (
    *_EDINET_DOC,
    *fields("str", "FilerName FilerNameEn DocTypeCode"),
    *fields("date", "SubDate"),
    *fields("time", "SubTime"),
    *fields("date", "PerSt PerEn"),
    *fields("json", "Hldrs"),
)
EDINET_CROSS_SHAREHOLDINGS = (
    *_EDINET_DOC,
    *fields("str", "FilerName FilerNameEn DocTypeCode"),
    *fields("date", "SubDate"),
    *fields("time", "SubTime"),
    *fields("date", "PerSt PerEn"),
    *fields("json", "Report Largest SecondLargest"),
)
EDINET_LARGE_VOLUME_SHAREHOLDERS = (
    *_EDINET_DOC,
    *fields("str", "IsrName DocTypeCode"),
    *fields("date", "SubDate"),
    *fields("time", "SubTime"),
    *fields("str", "LargeHldgTypeCode DocTitle ChgRsn"),
    *fields("num", "TotalShsHeld TotalShsRatio TotalShsRatioLast TotalOutStks"),
    *fields("json", "Hldrs"),
)
