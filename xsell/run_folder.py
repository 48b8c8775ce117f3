"""One run per run folder: a run claims its folder with a marker file that only one process can create.

Two runs that start in the same second (or are pointed at the same ``hydra.run.dir``) would otherwise
write into one folder and mix one's ``config.yaml`` with the other's ``metrics.json``. The marker
(``.xsell-run``, holding the run id) is created with ``O_CREAT | O_EXCL``, which the file system grants to
exactly one process; the second run stops with ``OutputError`` before it writes anything.

A resumed run (``xsell.train resume=``) re-enters the folder its run claimed. While a process trains in a
folder it holds an exclusive ``flock`` on the marker (released by :func:`release_run_folder`, or by the
system when the process dies, however it dies), so a run cannot be resumed while it, or another resume of
it, still runs.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

from xsell.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; the exclusive creation still keeps new runs out
    fcntl = None

RUN_MARKER = ".xsell-run"

_held: dict[Path, int] = {}  # folder -> descriptor of its locked marker, for the folders this process trains in


def claim_run_folder(folder: str | Path) -> str:
    """Create ``folder`` if needed and claim it for this run; returns the new run id.

    Raises ``OutputError`` naming the folder and the run that owns it when another run claimed it first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    try:
        fd = os.open(folder / RUN_MARKER, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        raise OutputError(f"run folder {folder} already belongs to another run ({_owner(folder)}): every run "
                          "needs its own folder (choose another hydra.run.dir / paths.output_dir)") from None
    _lock(fd)  # nobody else has opened it yet
    _write(fd, {"run_id": run_id, **_process()})
    _held[folder.resolve()] = fd
    return run_id


def reenter_run_folder(folder: str | Path) -> str:
    """Continue the run that claimed ``folder`` (a resumed run); returns its run id and records this process
    in the marker (``resumed``: one entry per resumption).

    Raises ``OutputError`` when ``folder`` has no marker of ``xsell.train`` or a process still trains in it.
    """
    folder = Path(folder)
    key = folder.resolve()
    marker = folder / RUN_MARKER
    if key not in _held:
        if not marker.is_file():
            raise OutputError(f"run folder {folder} has no {RUN_MARKER}: it was not claimed by a run of xsell.train, "
                              "so there is no run to continue there")
        fd = os.open(marker, os.O_RDWR)
        if not _lock(fd):
            os.close(fd)
            raise OutputError(f"run folder {folder} is in use: its run ({_owner(folder)}) or another resume of it "
                              "is still running")
        _held[key] = fd
    fd = _held[key]
    try:
        record = json.loads(os.pread(fd, os.fstat(fd).st_size, 0))
    except ValueError:
        raise OutputError(f"{marker} is unreadable: not a run folder of xsell.train") from None
    now = _process()
    record.update(pid=now["pid"], host=now["host"], resumed=[*record.get("resumed", []), now["started"]])
    _write(fd, record)
    return str(record.get("run_id"))


def release_run_folder(folder: str | Path) -> None:
    """Let other processes resume the run in ``folder`` (a no-op for a folder this process does not hold)."""
    fd = _held.pop(Path(folder).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock


def _lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write(fd: int, record: dict) -> None:
    """Replace the marker's content in place (a rename would give it a new inode, and lose the lock)."""
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _owner(folder: Path) -> str:
    try:
        record = json.loads((folder / RUN_MARKER).read_text())
        return f"run {record['run_id']}, started {record['started']} by pid {record['pid']} on {record['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {RUN_MARKER} is unreadable"
