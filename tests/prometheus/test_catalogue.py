"""docs/metrics.md lists exactly what the running daemon exposes, with the code's closed label sets."""
from __future__ import annotations

import pytest

import drivers.evolis.reasons as evolis_reasons
from agent.journal import JobState
from agent.observe.metrics import CARD_RESULTS, LINK_KINDS, REJECT_REASONS, STAGES, WIRE_DIRECTIONS
from agent.power.collector import LINK_PROBLEMS
from drivers.errors import Severity, StateReason

from testbed.station import REPO
from tests.prometheus.exposition import catalogue, families, family_of, samples

pytestmark = pytest.mark.e2e
CATALOGUE = REPO / "docs" / "metrics.md"


def _evolis_reasons() -> set[str]:
    """Every PWG keyword the Evolis driver can report (its StateReason constants)."""
    found = set()
    for value in vars(evolis_reasons).values():
        for item in (value.values() if isinstance(value, dict) else (value,)):
            if isinstance(item, StateReason):
                found.add(item.keyword)
    return found


@pytest.fixture(scope="module")
def exposition(printed_station) -> str:
    return printed_station.metrics()


def test_catalogue_lists_every_exposed_family_and_nothing_else(exposition):
    exposed, documented = families(exposition), catalogue(CATALOGUE)
    assert sorted(set(exposed) - set(documented)) == [], "exposed but not in docs/metrics.md"
    assert sorted(set(documented) - set(exposed)) == [], "in docs/metrics.md but not exposed"


def test_catalogue_types_match_the_exposition(exposition):
    exposed, documented = families(exposition), catalogue(CATALOGUE)
    wrong = {name: (entry.kind, exposed.get(name)) for name, entry in documented.items()
             if exposed.get(name) != entry.kind}
    assert wrong == {}, "documented type vs exposed type"


def test_exposed_labels_and_values_are_the_documented_ones(exposition):
    exposed, documented = families(exposition), catalogue(CATALOGUE)
    for sample, labels in samples(exposition):
        family = family_of(sample, exposed)
        if family is None:  # a _created companion
            continue
        entry = documented[family]
        labels.pop("le", None)
        assert set(labels) == set(entry.labels), f"{sample}: labels {sorted(labels)}"
        for label, value in labels.items():
            allowed = entry.labels[label]
            assert allowed is None or value in allowed, f"{sample}{{{label}={value!r}}} not documented"


@pytest.mark.parametrize("family, label, closed_set", [
    ("ktp_cards_total", "result", set(CARD_RESULTS)),
    ("ktp_jobs_rejected_total", "reason", set(REJECT_REASONS)),
    ("ktp_jobs", "state", {s.value for s in JobState}),
    ("ktp_stage_duration_seconds", "stage", set(STAGES)),
    ("ktp_link_bytes_total", "kind", set(LINK_KINDS)),
    ("ktp_link_wire_bytes_total", "direction", set(WIRE_DIRECTIONS)),
    ("ktp_printer_state_reason", "severity", {s.value for s in Severity}),
    ("ktp_printer_state_reason", "reason", _evolis_reasons()),
    ("ktp_printer_faults_total", "reason", _evolis_reasons() | {"offline"}),
    ("ktp_ups_link_errors_total", "problem", set(LINK_PROBLEMS)),
])
def test_documented_label_values_are_the_codes_closed_set(family, label, closed_set):
    entry = catalogue(CATALOGUE)[family]
    assert set(entry.labels[label] or ()) == closed_set
