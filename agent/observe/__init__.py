"""What the station tells about itself: Prometheus metrics and their endpoint, logs, redaction, systemd notify."""
from .auth import load_basic_auth, server_tls_context
from .endpoint import MetricsServer
from .logs import configure as configure_logs, recent_lines
from .metrics import LINK_KINDS, PrinterReading, StationMetrics
from .redaction import redact
from .sdnotify import SystemdNotifier

__all__ = ["LINK_KINDS", "MetricsServer", "PrinterReading", "StationMetrics", "SystemdNotifier", "configure_logs",
           "load_basic_auth", "recent_lines", "redact", "server_tls_context"]
