"""Whether a process is the one that took a lock: its pid is alive, not a zombie, and started when it said."""

from __future__ import annotations

import re


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], fields[19]


def process_start(pid: int | str) -> str:
    """The start time of a live process (empty when it is gone): a pid plus this names one process for good."""
    found = _stat(int(pid)) if str(pid).isdigit() and int(pid) > 0 else None
    return found[1] if found and found[0] not in ("Z", "X") else ""


def process_alive(pid: int | str, start: str = "") -> bool:
    """True when pid runs, is not a zombie, and (when given) started at `start`; a reused pid is not alive."""
    current = process_start(pid)
    return bool(current) and (not start or current == str(start))


def holder_gone(holder: str, controller: str) -> bool:
    """Whether a lock's holder ("<operator>@<controller> pid <pid> start <ticks>", release/vars/main.yml) ran on
    this controller and is gone (killed, crashed, a zombie, its pid reused). A holder on another controller, or
    not in that form, is never judged here: its lock waits for the TTL."""
    found = re.search("@" + re.escape(controller) + r" pid ([1-9][0-9]*) start ([0-9]+)$", holder or "")
    return bool(found) and not process_alive(found.group(1), found.group(2))


class FilterModule:
    def filters(self) -> dict:
        return {"process_alive": process_alive, "process_start": process_start, "holder_gone": holder_gone}
