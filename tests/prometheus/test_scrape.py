"""A real Prometheus server (the Debian package's binary) scrapes the running daemon."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ..e2e.harness import REPO, free_port
from .conftest import PRINTED

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("prometheus") is None,
                       reason="prometheus not installed (apt-get install prometheus; .ci/run installs it)"),
]
RULES = REPO / "prometheus" / "rules" / "ktp-agent.rules.yml"
DEADLINE_S = 60


class PrometheusServer:
    """`prometheus` on a loopback port, storage and log under ``root``."""

    def __init__(self, root: Path, targets: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "prometheus.log"
        config = root / "prometheus.yml"
        # JSON is YAML: no YAML library needed to write the config.
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "ktp-agent", "static_configs": [{"targets": targets}]}],
        }, indent=2))
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=root)

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as response:
            return json.loads(response.read())

    def query(self, promql: str) -> list[dict]:
        answer = self.get("/api/v1/query", query=promql)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, predicate, what: str, deadline: float):
        """Poll ``predicate()`` until it returns a true value, before the monotonic ``deadline``."""
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            try:
                last = predicate()
                if last:
                    return last
            except (urllib.error.URLError, ConnectionError):
                pass  # not listening yet
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r}):\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def test_prometheus_scrapes_the_daemon_and_counts_its_printed_cards(printed_station, tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{printed_station.metrics_port}"])
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
    prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{printed_station.metrics_port}"])
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
