"""Small readers for what the tests compare: the daemon's exposition, PromQL, the catalogue."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TYPE_LINE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", re.M)
_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", re.M)
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_SERIES_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def declared_types(text: str) -> dict[str, str]:
    """Every ``# TYPE`` line of an exposition: {name: type}, empty families included."""
    return dict(_TYPE_LINE.findall(text))


def families(text: str) -> dict[str, str]:
    """The station's own families: the declared ones without the client library's
    ``<counter>_created`` / ``<histogram>_created`` companions."""
    types = declared_types(text)
    companions = {_created_of(name, kind) for name, kind in types.items()}
    return {name: kind for name, kind in types.items() if name not in companions}


def _created_of(name: str, kind: str) -> str | None:
    if kind == "counter":
        return name.removesuffix("_total") + "_created"
    if kind in ("histogram", "summary"):
        return name + "_created"
    return None


def series_names(text: str) -> set[str]:
    """Every metric name a query against this exposition could use."""
    names = set()
    for name, kind in declared_types(text).items():
        names.update(name + suffix for suffix in _SERIES_SUFFIXES.get(kind, ("",)))
    names.update(name for name, _ in _SAMPLE_LINE.findall(text))
    return names


def samples(text: str) -> list[tuple[str, dict[str, str]]]:
    return [(name, dict(_LABEL_PAIR.findall(labels))) for name, labels in _SAMPLE_LINE.findall(text)]


def family_of(sample_name: str, known: dict[str, str]) -> str | None:
    for name, kind in known.items():
        if sample_name in {name + s for s in _SERIES_SUFFIXES.get(kind, ("",))}:
            return name
    return None


# -- PromQL -------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.I)
_IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
             "bool", "offset", "inf", "nan", "atan2"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions,
    keywords, label names or label values (a lexer's view, enough for our queries)."""
    text = _GRAFANA_VARIABLE.sub("1m", expr)
    text = _STRING.sub('""', text)
    text = re.sub(r"\{[^}]*\}", " ", text)        # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)       # ranges and subqueries
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for name, call in _IDENTIFIER.findall(text):
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


# -- the rule files (the venv has no YAML parser; these files are ours) ----------
def rule_exprs(text: str) -> dict[str, str]:
    """{alert: expr} of a rule file, for plain and ``>-`` folded ``expr:`` values."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    alert = None
    for i, line in enumerate(lines):
        if m := re.match(r"\s*- alert: (\S+)", line):
            alert = m.group(1)
        elif (m := re.match(r"(\s*)expr: (.*)$", line)) and alert:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in (">-", ">", "|", "|-"):
                block = []
                for follow in lines[i + 1:]:
                    if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                        break
                    block.append(follow.strip())
                value = " ".join(block)
            found[alert] = value
    return found


def alert_cases(text: str) -> list[tuple[str, bool]]:
    """(alertname, expects any alert) for each ``alert_rule_test`` case of a promtool test file."""
    cases = []
    for m in re.finditer(r"alertname: (\S+)\s*\n\s*exp_alerts:(.*)", text):
        cases.append((m.group(1), m.group(2).strip() != "[]"))
    return cases


# -- the catalogue ------------------------------------------------------------
@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    kind: str
    labels: dict[str, tuple[str, ...] | None]  # None: values not enumerated (e.g. station_id)


_ROW = re.compile(r"^\|\s*`(ktp_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", re.M)


def catalogue(path: Path) -> dict[str, CatalogueEntry]:
    """The rows of docs/metrics.md's tables: | `name` | type | labels | ...

    A labels cell is ``—`` or ``; ``-separated parts, each `` `label`: `v1`, `v2` ``
    (a closed set) or `` `label` (free text) `` (one value per station).
    """
    entries: dict[str, CatalogueEntry] = {}
    for name, kind, cell in _ROW.findall(path.read_text()):
        assert name not in entries, f"{name} listed twice in {path}"
        labels: dict[str, tuple[str, ...] | None] = {}
        for part in filter(None, (p.strip() for p in cell.split(";"))):
            if part in ("—", "-"):
                continue
            tokens = re.findall(r"`([^`]+)`", part)
            assert tokens, f"{name}: labels cell part {part!r} names no label"
            head, sep, _ = part.partition(":")
            labels[tokens[0]] = tuple(tokens[1:]) if sep else None
        entries[name] = CatalogueEntry(name, kind, labels)
    return entries
