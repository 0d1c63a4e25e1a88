"""The power metrics, read from the monitor's snapshot at scrape time."""
from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .monitor import PowerMonitor
from .nut import LinkProblem

LINK_PROBLEMS = tuple(p.value for p in LinkProblem)


class PowerCollector(Collector):
    def __init__(self, monitor: PowerMonitor) -> None:
        self._monitor = monitor

    def collect(self):
        s = self._monitor.snapshot()
        reading = s.reading
        yield GaugeMetricFamily("ktp_ups_link_up", "1 when the last exchange with upsd gave a UPS reading",
                                value=int(s.link_problem is None))
        errors = CounterMetricFamily("ktp_ups_link_errors", "Exchanges with upsd that failed, by problem",
                                     labels=["problem"])
        for problem, n in s.link_errors:
            errors.add_metric([problem], n)
        yield errors
        on_battery = GaugeMetricFamily("ktp_power_on_battery", "1 while the UPS runs on battery, 0 on mains"
                                       " (absent without a reading)")
        charge = GaugeMetricFamily("ktp_ups_battery_charge_ratio", "Battery charge the UPS reports, 0 to 1")
        runtime = GaugeMetricFamily("ktp_ups_runtime_seconds", "Runtime on battery the UPS estimates")
        if reading is not None:
            on_battery.add_metric([], int(reading.on_battery))
            if reading.charge_ratio is not None:
                charge.add_metric([], reading.charge_ratio)
            if reading.runtime_s is not None:
                runtime.add_metric([], reading.runtime_s)
        yield from (on_battery, charge, runtime)
        yield GaugeMetricFamily("ktp_power_min_runtime_seconds", "Runtime under which no new blank is taken",
                                value=s.min_runtime_s)
        yield GaugeMetricFamily("ktp_power_queue_held", "1 while no new blank is taken for lack of power",
                                value=int(s.state.holds))
        yield CounterMetricFamily("ktp_power_held_cards", "Cards ready to print that waited for power"
                                  " (each once per hold)", value=s.held_cards)
