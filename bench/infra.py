#!/usr/bin/env python3
"""infra.yml against the DO emulator: API requests and wall time of a full create, a no-change rerun
and a teardown (the emulator's journal counts what the playbooks sent).

    .venv/bin/python bench/infra.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from do_emulator import harness  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        emulator = harness.start(tmp)
        env = harness.environment("bench")
        rows = []
        for label, playbook, extra in (("full create", "infra.yml", {}), ("no-change rerun", "infra.yml", {}),
                                       ("teardown", "teardown.yml", {"berth_infra_teardown_confirm": "bench"})):
            emulator.journal.clear()
            started = time.monotonic()
            result = harness.playbook(emulator, tmp, playbook, env, **extra)
            seconds = time.monotonic() - started
            if result.returncode != 0:
                sys.exit(f"{label} failed:\n{result.stdout[-3000:]}")
            methods = Counter(e["method"] for e in emulator.journal)
            rows.append((label, len(emulator.journal), methods["GET"], len(emulator.journal) - methods["GET"],
                         seconds))
        emulator.stop()
        if emulator.violations:
            sys.exit("spec violations:\n" + "\n".join(emulator.violations))
    print("infra.yml against the emulator (2 droplets, firewall, LB, PG + Valkey, DNS, project)")
    print(f"{'run':<18}{'requests':>10}{'GET':>6}{'writes':>8}{'wall s':>9}")
    for label, total, gets, writes, seconds in rows:
        print(f"{label:<18}{total:>10}{gets:>6}{writes:>8}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
