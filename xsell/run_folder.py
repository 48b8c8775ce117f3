"""One run per run folder: a run claims its folder with a marker file that only one process can create.

Two runs that start in the same second (or are pointed at the same ``hydra.run.dir``) would otherwise
write into one folder and mix one's ``config.yaml`` with the other's ``metrics.json``. The marker
(``.xsell-run``, holding the run id) is created with ``O_CREAT | O_EXCL``, which the file system grants to
exactly one process; the second run stops with ``OutputError`` before it writes anything.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

from xsell.errors import OutputError

RUN_MARKER = ".xsell-run"


def claim_run_folder(folder: str | Path) -> str:
    """Create ``folder`` if needed and claim it for this run; returns the new run id.

    Raises ``OutputError`` naming the folder and the run that owns it when another run claimed it first.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    record = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        fd = os.open(folder / RUN_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise OutputError(f"run folder {folder} already belongs to another run ({_owner(folder)}): every run "
                          "needs its own folder (choose another hydra.run.dir / paths.output_dir)") from None
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    return run_id


def _owner(folder: Path) -> str:
    try:
        record = json.loads((folder / RUN_MARKER).read_text())
        return f"run {record['run_id']}, started {record['started']} by pid {record['pid']} on {record['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {RUN_MARKER} is unreadable"
