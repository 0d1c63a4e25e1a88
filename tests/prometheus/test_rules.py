"""The alert rules and example configs pass promtool, and the rule unit tests run."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from testbed.station import REPO
from tests.prometheus.exposition import alert_cases, rule_exprs

PROMETHEUS = REPO / "prometheus"
RULES = PROMETHEUS / "rules" / "ktp-agent.rules.yml"
RULE_TESTS = PROMETHEUS / "rules" / "ktp-agent.rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; .ci/run installs it)")


def promtool(*args: str) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@needs_promtool
def test_alert_rules_pass_promtool_check():
    out = promtool("check", "rules", str(RULES))
    assert "SUCCESS" in out


@needs_promtool
def test_alert_rule_unit_tests_pass():
    promtool("test", "rules", str(RULE_TESTS))


@needs_promtool
def test_scrape_example_is_a_valid_config_with_the_rules():
    out = promtool("check", "config", str(PROMETHEUS / "scrape.example.yml"))
    assert "1 rule files found" in out


@needs_promtool
def test_agent_mode_example_is_a_valid_agent_config():
    promtool("check", "config", "--agent", str(PROMETHEUS / "agent.example.yml"))


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    alerts = set(rule_exprs(RULES.read_text()))
    cases = alert_cases(RULE_TESTS.read_text())
    assert len(alerts) >= 8
    assert alerts - {name for name, fires in cases if fires} == set(), "alerts never shown firing"
    assert alerts - {name for name, fires in cases if not fires} == set(), "alerts never shown quiet"
