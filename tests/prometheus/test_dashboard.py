"""The Grafana dashboard and the alert rules only query metrics the running daemon exposes."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from testbed.station import REPO
from tests.prometheus.exposition import promql_metric_names, rule_exprs, series_names

pytestmark = pytest.mark.e2e
DASHBOARD = REPO / "prometheus" / "grafana" / "ktp-agent.dashboard.json"
RULES = REPO / "prometheus" / "rules" / "ktp-agent.rules.yml"
#: What Prometheus itself adds to every scrape target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: Grafana's variables, as a query would see them for "all stations over a day".
GRAFANA_VALUES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1d", "station": ".*"}


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> dict[str, str]:
    """{where: PromQL} for every panel target and every query variable."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = {}
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            queries[f"variable {variable['name']}"] = match.group(1) if match else query
    return queries


def with_grafana_values(expr: str) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VALUES[m.group(1)], expr)


@pytest.fixture(scope="module")
def exposed(printed_station) -> set[str]:
    return series_names(printed_station.metrics())


def test_every_dashboard_panel_queries_something_on_the_chosen_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_queries_only_name_metrics_the_daemon_exposes(exposed):
    unknown = {where: sorted(promql_metric_names(expr) - exposed - SCRAPE_SERIES)
               for where, expr in dashboard_queries().items()}
    assert {w: names for w, names in unknown.items() if names} == {}


def test_dashboard_covers_the_catalogues_headline_metrics():
    named = set().union(*(promql_metric_names(e) for e in dashboard_queries().values()))
    for metric in ("ktp_cards_total", "ktp_stage_duration_seconds_bucket", "ktp_job_duration_seconds_bucket",
                   "ktp_jobs", "ktp_link_throughput_bytes_per_second", "ktp_link_retries_total",
                   "ktp_printer_state_reason", "ktp_printer_faults_total", "ktp_blanks_days_left",
                   "ktp_ribbon_prints_remaining", "ktp_station_info", "ktp_power_on_battery",
                   "ktp_ups_runtime_seconds", "ktp_ups_link_up", "ktp_power_queue_held"):
        assert metric in named


def test_alert_rules_only_name_metrics_the_daemon_exposes(exposed):
    unknown = {alert: sorted(promql_metric_names(expr) - exposed - SCRAPE_SERIES)
               for alert, expr in rule_exprs(RULES.read_text()).items()}
    assert {a: names for a, names in unknown.items() if names} == {}


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (apt-get install prometheus; .ci/run installs it)")
def test_dashboard_queries_parse_as_promql(tmp_path):
    """promtool parses each query (with Grafana's variables filled in) as a recording rule."""
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for n, expr in enumerate(dashboard_queries().values()):
        rules += [f"      - record: dashboard:query_{n}", f"        expr: {json.dumps(with_grafana_values(expr))}"]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text("\n".join(rules) + "\n")
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
