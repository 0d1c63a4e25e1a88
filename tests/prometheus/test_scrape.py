"""A real Prometheus server (the Debian package's binary) scrapes the running daemon."""
from __future__ import annotations

import shutil
import time

import pytest

from testbed.station import REPO
from tests.prometheus.conftest import PRINTED
from testbed.prometheus import PrometheusServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("prometheus") is None,
                       reason="prometheus not installed (apt-get install prometheus; .ci/run installs it)"),
]
RULES = REPO / "prometheus" / "rules" / "ktp-agent.rules.yml"
DEADLINE_S = 60


def test_prometheus_scrapes_the_daemon_and_counts_its_printed_cards(printed_station, tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{printed_station.metrics_port}"], rule_files=[RULES])
    try:
        def printed():
            result = prometheus.query('ktp_cards_total{result="printed"}')
            return result if result and float(result[0]["value"][1]) == PRINTED else None

        result = prometheus.wait_for(printed, f"ktp_cards_total{{result=\"printed\"}} == {PRINTED}", deadline)
        assert len(result) == 1
        assert result[0]["metric"]["job"] == "ktp-agent"
        assert prometheus.query('up{job="ktp-agent"}')[0]["value"][1] == "1"
        assert prometheus.query("ktp_station_info")[0]["metric"]["station_id"] == "3319-05"
        assert float(prometheus.query("ktp_printer_cards_inserted_total")[0]["value"][1]) == PRINTED
    finally:
        prometheus.stop()


def test_prometheus_loads_the_alert_rules_and_none_fires_on_a_healthy_station(printed_station, tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{printed_station.metrics_port}"], rule_files=[RULES])
    try:
        def evaluated():
            rules = [r for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
            scraped = prometheus.query('up{job="ktp-agent"} == 1')
            # one evaluation after the first scrape: lastEvaluation is set once the group ran
            ran = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)
            return rules if ran and scraped and prometheus.query("count(ktp_jobs) > 0") else None

        prometheus.wait_for(evaluated, "a rule evaluation with the station's series", deadline)
        time.sleep(1.5)  # one more evaluation interval, now certainly over scraped series
        rules = [r for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        assert len(rules) >= 8
        assert {r["name"]: r["health"] for r in rules if r["health"] != "ok"} == {}
        assert {r["name"]: r["state"] for r in rules if r["state"] != "inactive"} == {}
    finally:
        prometheus.stop()
