"""The technician's surfaces: the CLI commands, the control socket, the station's status and its page,
diagnose with its help-desk bundle, advice for each fault, sync ahead of an outage, and the offline
import and export commands."""
from .commands import add_technician_commands
from .control import ControlServer, socket_path
from .devices_command import add_devices_command
from .diagnose import control_handlers
from .journal_commands import add_jobs_commands, add_journal_commands, add_stock_commands
from .offline_commands import add_offline_commands
from .station_status import StationState, StationStatus
from .status import gather, printer_view, quota_view
from .status_page import render_status_page

__all__ = ["ControlServer", "StationState", "StationStatus", "add_devices_command", "add_jobs_commands", "add_journal_commands",
           "add_offline_commands", "add_stock_commands", "add_technician_commands", "control_handlers", "gather",
           "printer_view", "quota_view", "render_status_page", "socket_path"]
