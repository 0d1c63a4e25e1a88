"""The agent floor's exception family."""
from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by the agent floor."""


class ConfigError(AgentError):
    """The configuration file is missing, malformed, or names a bad value."""


class JournalError(AgentError):
    """The journal cannot be opened, is damaged, or refused a transition."""


class JobRejectedError(AgentError):
    """A job must be reported ``rejected``; ``reason`` is the protocol's code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"[{reason}] {detail}")


class LinkError(AgentError):
    """The job server could not be reached or answered out of contract."""


class LinkTimeoutError(LinkError):
    """The job server did not accept a connection, or sent no byte, within the time allowed."""


class KeyFileError(AgentError):
    """A key or token file is missing, unreadable, or unsafe."""
