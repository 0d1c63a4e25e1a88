"""Durable small-file writes for the simulators' persisted state."""
from __future__ import annotations

import os
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half file behind
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def unplugged_path(state_dir: str | os.PathLike[str], role: str) -> Path:
    """The file that keeps an in-process simulator's cable out: it holds the time it goes back in."""
    return Path(state_dir) / f"unplugged-{role}"


def unplug_for(state_dir: str | os.PathLike[str], role: str, seconds: float, now: float) -> None:
    atomic_write_bytes(unplugged_path(state_dir, role), f"{now + seconds:.3f}\n".encode())


def unplugged_seconds(state_dir: str | os.PathLike[str], role: str, now: float) -> float:
    """How long the cable stays out; 0 when it is in (the file is removed once the time has passed)."""
    path = unplugged_path(state_dir, role)
    try:
        until = float(path.read_text().strip() or 0)
    except FileNotFoundError:
        return 0.0
    except ValueError:
        until = 0.0
    if until <= now:
        path.unlink(missing_ok=True)
        return 0.0
    return until - now
