"""After a failed `pulumi up`: when the stack is locked, say which stack, since when, by whom, and the exact
commands that clear the lock. Anything else: say nothing (the update's own error is already in the log).

A release run that is cancelled or times out while `pulumi up` runs never releases the stack: the agent is
stopped, not the CLI asked to finish. Every later night then fails in seconds. Pulumi's own words:

- self-managed backend (azblob://): "the stack is currently locked by 1 lock(s). Either wait for the other
  process(es) to end or delete the lock file with `pulumi cancel`." then one line per lock file,
  "  <lock file URL>: created by <user>@<host> (pid <pid>) at <RFC 3339 time>" (pulumi/pulumi,
  pkg/backend/diy/lock.go: checkForLock). `pulumi cancel` deletes every lock file of the stack
  (pkg/backend/diy/backend.go: CancelCurrentUpdate); `pulumi preview` and `refresh --preview-only` take no
  lock (diyBackend.Preview, .Refresh).
- Pulumi Cloud: "[409] Conflict: Another update is currently in progress." (the two texts Pulumi's automation
  API itself treats as a locked stack: sdk/go/auto/errors.go, IsConcurrentUpdateError); `pulumi cancel`
  cancels that update (pkg/cmd/pulumi/cancel/cancel.go).

An update cut short can leave operations pending in the state; `pulumi refresh` reads them back and clears
them (the warning in pkg/engine/lifecycletest/testdata/output/TestUpdateShowsWarningWithPendingOperations).

    python pipelines/stack_lock.py --stack dev --backend azblob://state?storage_account=x --log up.log

Standard library only. Exit status 0 always: the caller exits with the update's own status.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DIY_LOCKED = "the stack is currently locked by"
CLOUD_LOCKED = "[409] Conflict: Another update is currently in progress."
_LOCK_FILE = re.compile(r"^\s*(?P<file>\S+): created by (?P<who>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)\s*$")
_PULUMI_CLOUD_API = "https://api.pulumi.com"


@dataclass(frozen=True)
class Lock:
    file: str
    who: str
    pid: str
    at: datetime | None
    at_text: str


def diy_locks(log: str) -> list[Lock] | None:
    """The lock files the self-managed backend lists; None when the log does not say the stack is locked."""
    if DIY_LOCKED not in log:
        return None
    locks = []
    for line in log.splitlines():
        match = _LOCK_FILE.match(line)
        if match:
            try:
                at = datetime.fromisoformat(match["at"])
            except ValueError:
                at = None
            if at is not None and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            locks.append(Lock(match["file"], match["who"], match["pid"], at, match["at"]))
    return locks


def _age(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 0:
        return ""
    hours, minutes = divmod(minutes, 60)
    return f" ({hours} h {minutes} min ago)" if hours else f" ({minutes} min ago)"


def clear_commands(stack: str, backend: str) -> list[str]:
    return [
        f"pulumi login {shlex.quote(backend)}",
        f"pulumi cancel --yes --stack {shlex.quote(stack)}",
        f"pulumi refresh --stack {shlex.quote(stack)}",
    ]


def explain(stack: str, backend: str, log: str, now: datetime) -> list[str]:
    """What to print when the log says the stack is locked; nothing otherwise."""
    locks = diy_locks(log)
    commands = clear_commands(stack, backend)
    clear = " && ".join(commands[:2])
    how = [
        "If no pulumi runs on this stack now (no release run in progress: Pipelines > release; nobody's own",
        "shell), clear the lock and resolve what the interrupted update left pending, then run the release:",
        *(f"    {command}" for command in commands),
        "(`pulumi refresh` asks before it changes the state; it is needed only when pulumi up warns about",
        "pending operations.)",
    ]
    if locks is not None:
        oldest = min((lock for lock in locks if lock.at), key=lambda lock: lock.at, default=None)
        since = f"since {oldest.at_text}{_age(oldest.at, now)}" if oldest else "since an unknown time"
        holders = "; ".join(f"{lock.who} (pid {lock.pid}) at {lock.at_text}: {lock.file}" for lock in locks)
        return [
            f"##vso[task.logissue type=error]stack {stack} is locked {since}, by a pulumi process that did "
            f"not finish (a cancelled or timed-out run leaves its lock). To clear it: {clear}",
            f"Stack {stack} is locked {since}. Lock files: {holders or 'not listed'}.",
            *how,
        ]
    if CLOUD_LOCKED in log:
        page = ""
        parts = stack.split("/")
        if backend.rstrip("/") == _PULUMI_CLOUD_API and len(parts) == 3:
            page = f" (the stack's page says since when: https://app.pulumi.com/{stack}/updates)"
        return [
            f"##vso[task.logissue type=error]stack {stack} is locked: Pulumi Cloud reports another update in "
            f"progress{page}. To clear it: {clear}",
            f"Stack {stack} is locked: Pulumi Cloud reports another update in progress; this error does not "
            f"say since when{page}.",
            *how,
        ]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--backend", required=True, help="the PULUMI_BACKEND_URL the run logged in to")
    parser.add_argument("--log", type=Path, required=True, help="the failed update's output")
    parser.add_argument("--now", type=datetime.fromisoformat, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        log = args.log.read_text(errors="replace")
    except OSError:
        return 0
    lines = explain(args.stack, args.backend, log, args.now or datetime.now(UTC))
    if lines:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
