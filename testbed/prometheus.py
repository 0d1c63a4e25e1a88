"""A real Prometheus server (the Debian package's binary) on a loopback port."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from testbed.station import end_process, free_port


class PrometheusServer:
    """`prometheus` on a loopback port, storage and log under ``root``.

    ``targets`` are scraped by one job, ``ktp-agent``, every second; or pass
    ``scrape_configs`` and ``global_config`` whole.
    """

    def __init__(self, root: Path, targets: list[str] | None = None, *, rule_files: list[Path] = (),
                 scrape_configs: list[dict] | None = None, global_config: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "prometheus.log"
        config = root / "prometheus.yml"
        if scrape_configs is None:
            scrape_configs = [{"job_name": "ktp-agent", "static_configs": [{"targets": list(targets or [])}]}]
        # JSON is YAML: no YAML library needed to write the config.
        config.write_text(json.dumps({
            "global": global_config or {"scrape_interval": "1s", "scrape_timeout": "1s",
                                        "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": scrape_configs,
        }, indent=2))
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=root)

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
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
        end_process(self.process)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
