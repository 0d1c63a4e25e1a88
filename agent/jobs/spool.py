"""The spool: ciphertext payloads on disk, one file per job, nothing else."""
from __future__ import annotations

from pathlib import Path


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def payload_path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.payload"

    def read(self, job_id: str) -> bytes:
        return self.payload_path(job_id).read_bytes()

    def remove(self, job_id: str) -> None:
        for suffix in (".payload", ".part", ".etag"):
            (self.directory / f"{job_id}{suffix}").unlink(missing_ok=True)

    def bytes_held(self) -> int:
        total = 0
        for path in self.directory.glob("*.payload"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass  # deleted by the reporter between the listing and the stat
        return total
