#!/usr/bin/env python3
"""Mutation check: each mutant of tests/mutants.yml (a small fault in berth's own code) must make the
tests that guard its promise fail.

One mutant at a time: its `find` text (which must occur exactly once in its file, else the mutant is
STALE) is replaced, `pytest -q -x -p no:cacheprovider <its tests>` runs, and the file is put back
byte for byte (and its mtime, so no stale bytecode is ever trusted) in a `finally`, on Ctrl-C and on
SIGTERM too. pytest's exit status is the verdict:

    1    caught    a test failed
    0    SURVIVED  every test passed: the tests do not guard this promise
    else ERROR     interrupted, collection or usage error, no tests collected: not a catch

A mutant whose test files are missing is an ERROR without running. The run refuses to start when a
file it would mutate has uncommitted changes. The unit tests of the selected mutants run once with no
mutant applied: a test that fails anyway would "catch" any mutant, so a mutant whose tests include
one is an ERROR without running (e2e tests are too slow to run twice and are not checked). The run
ends by checking `git diff` of every file it touched. Exit status: 0 only when every mutant was
caught; 1 otherwise; 2 for a bad table, a bad option, a dirty file, or unit tests that do not even
run; 3 when a file could not be restored; 128 + the signal when one stopped the run.

    scripts/mutants.py                  every mutant (e2e ones need `make lab`)
    scripts/mutants.py --unit-only      only mutants whose tests are all under tests/unit/
    scripts/mutants.py --only gate-skipped --only switch-before-gate
    scripts/mutants.py --list           each mutant and whether its `find` still matches; runs nothing

Each run's pytest output is kept in .lab/mutants/<id>.log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "mutants.yml"
PYTEST = ROOT / ".venv" / "bin" / "pytest"
LOGS = ROOT / ".lab" / "mutants"
REQUIRED = {"id": str, "why": str, "file": str, "find": str, "replace": str, "tests": list}
OPTIONAL = {"droplet": str}
# pytest: 1 = tests failed; 0 = all passed; 2 interrupted, 3 internal error, 4 usage error, 5 no tests.
CAUGHT, SURVIVED, ERROR, STALE = "caught", "SURVIVED", "ERROR", "STALE"
SIGNALS = {signal.SIGINT, signal.SIGTERM}


class SignalError(Exception):
    """SIGINT or SIGTERM arrived; raised where the main thread is, so every `finally` runs."""


class RestoreError(Exception):
    """A mutated file could not be put back as it was."""


@dataclass(frozen=True)
class Mutant:
    id: str
    why: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    droplet: str = ""

    @property
    def path(self) -> Path:
        return ROOT / self.file

    @property
    def test_paths(self) -> list[str]:
        """The files and directories among the pytest arguments (node ids without their ::part)."""
        return [arg.split("::", 1)[0] for arg in self.tests if not arg.startswith("-") and "/" in arg]

    @property
    def unit(self) -> bool:
        paths = self.test_paths
        return bool(paths) and all(p.startswith("tests/unit/") for p in paths)

    def where(self) -> tuple[str, str]:
        """(OK or STALE, why) for `find` in the file as it is now."""
        try:
            count = self.path.read_bytes().count(self.find.encode())
        except FileNotFoundError:
            return STALE, f"no file {self.file}"
        if count != 1:
            return STALE, f"`find` occurs {count} times in {self.file} (must be once)"
        return "OK", ""

    def missing_tests(self) -> list[str]:
        return [p for p in self.test_paths if not (ROOT / p).exists()]


@dataclass
class Result:
    mutant: Mutant
    verdict: str
    detail: str
    seconds: float = 0.0


def die(message: str) -> NoReturn:
    print(f"mutants: {message}", file=sys.stderr)
    raise SystemExit(2)


def load(path: Path) -> list[Mutant]:
    """The table, or exit 2 naming every entry that is malformed."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        die(f"cannot read {path}: {exc}")
    if not isinstance(entries, list):
        die(f"{path} must be a list of mutants")
    problems, mutants, seen = [], [], set()
    for index, entry in enumerate(entries):
        where = f"{path.name}[{index}]" + (f" ({entry.get('id')})" if isinstance(entry, dict) else "")
        found = entry_problems(entry)
        if not found and entry["id"] in seen:
            found = [f"id {entry['id']!r} is used twice"]
        if found:
            problems += [f"{where}: {p}" for p in found]
            continue
        seen.add(entry["id"])
        mutants.append(Mutant(**{**entry, "tests": tuple(entry["tests"])}))
    if problems:
        die("the table is malformed:\n  " + "\n  ".join(problems))
    return mutants


def entry_problems(entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return ["must be a mapping"]
    problems = [f"unknown key {key!r}" for key in entry if key not in REQUIRED and key not in OPTIONAL]
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        if key not in entry:
            if key in REQUIRED:
                problems.append(f"{key} is missing")
        elif not isinstance(entry[key], kind):
            problems.append(f"{key} must be a {kind.__name__}")
    if problems:
        return problems
    if not entry["find"]:
        problems.append("find is empty")
    if entry["find"] == entry["replace"]:
        problems.append("replace is the same as find")
    if not entry["tests"] or not all(isinstance(t, str) and t for t in entry["tests"]):
        problems.append("tests must be a non-empty list of pytest arguments")
    return problems


def git(*args: str) -> int:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False).returncode


def unclean(files: list[str]) -> list[str]:
    """Files that are not tracked by git or differ from HEAD (staged or not)."""
    return [f for f in files
            if git("ls-files", "--error-unmatch", "--", f) != 0 or git("diff", "--quiet", "HEAD", "--", f) != 0]


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (a restore is not cut in half)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def _interrupt(signum: int, _frame: object) -> None:
    raise SignalError(signal.Signals(signum).name)


def write(path: Path, data: bytes) -> None:
    """In place (same inode, same mode)."""
    with path.open("r+b") as fh:
        fh.write(data)
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())


def apply(mutant: Mutant, original: bytes, stat: os.stat_result) -> bytes:
    mutated = original.replace(mutant.find.encode(), mutant.replace.encode(), 1)
    write(mutant.path, mutated)
    # A new mtime second, so Python never takes a cached .pyc of the original for the mutant.
    os.utime(mutant.path, ns=(stat.st_atime_ns, max(time.time_ns(), stat.st_mtime_ns + 2_000_000_000)))
    return mutated


def restore(mutant: Mutant, original: bytes, mutated: bytes, stat: os.stat_result) -> None:
    """Put the original bytes and times back; refuse to clobber an edit someone made meanwhile."""
    current = mutant.path.read_bytes()
    if current != original:
        if current != mutated:
            raise RestoreError(f"{mutant.file} changed while mutant {mutant.id} was applied; it was NOT restored "
                               f"and may still hold the mutant (find {mutant.find!r} -> {mutant.replace!r})")
        write(mutant.path, original)
    os.utime(mutant.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def restore_held(mutant: Mutant, original: bytes, mutated: bytes, stat: os.stat_result) -> None:
    """restore() with the signals held; a signal that slips in just before is re-raised after it."""
    pending = None
    for _attempt in range(5):
        try:
            with signals_held():
                restore(mutant, original, mutated, stat)
            break
        except SignalError as exc:
            pending = exc
    if pending is not None:
        raise pending


def stop(proc: subprocess.Popen) -> None:
    """End pytest's whole process group: SIGINT (its teardown runs), then SIGKILL."""
    for sig, grace in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(grace)
            return
        except ProcessLookupError:
            return
        except (subprocess.TimeoutExpired, SignalError):
            continue


def failed_tests(log: str) -> list[str]:
    """The node ids (or files, for a collection error) in pytest's short summary."""
    return re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", log, re.MULTILINE)


def failed_test(log: str) -> str:
    found = failed_tests(log)
    return found[0] if found else "?"


def last_words(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def run(mutant: Mutant, failing: list[str]) -> Result:
    """Apply the mutant, run its tests, put the file back. `failing`: tests that fail with no mutant."""
    stale, why = mutant.where()
    if stale == STALE:
        return Result(mutant, STALE, why)
    missing = mutant.missing_tests()
    if missing:
        return Result(mutant, ERROR, "no such test file: " + ", ".join(missing))
    already = [node for node in failing if any(covers(arg, node) for arg in mutant.tests)]
    if already:
        return Result(mutant, ERROR, f"its tests fail with no mutant applied: {already[0]}"
                      + (f" and {len(already) - 1} more" if len(already) > 1 else ""))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if not mutant.unit:
        env["BERTH_DROPLET"] = mutant.droplet or "mutant"
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{mutant.id}.log"
    original, stat = mutant.path.read_bytes(), mutant.path.stat()
    mutated, proc = original, None
    started = time.monotonic()
    try:
        with signals_held():
            mutated = apply(mutant, original, stat)
        with log_path.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen([str(PYTEST), "-q", "-x", "-p", "no:cacheprovider", *mutant.tests], cwd=ROOT,
                                    env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            code = proc.wait()
    finally:
        try:
            restore_held(mutant, original, mutated, stat)
        finally:
            if proc is not None and proc.poll() is None:
                stop(proc)
    seconds = time.monotonic() - started
    log = log_path.read_text(encoding="utf-8", errors="replace")
    if code == 1:
        return Result(mutant, CAUGHT, failed_test(log), seconds)
    if code == 0:
        return Result(mutant, SURVIVED, "nothing (passed: " + " ".join(mutant.tests) + ")", seconds)
    return Result(mutant, ERROR, f"pytest exit {code}: {last_words(log)} (log: {log_path.relative_to(ROOT)})",
                  seconds)


def baseline(mutants: list[Mutant]) -> tuple[list[str], str]:
    """The unit tests of these mutants, run once with no mutant applied: (what failed, why the run itself
    failed or ''). A test that fails anyway would "catch" any mutant, so a mutant whose tests include one
    is not run. e2e tests are too slow to run twice and are not checked."""
    tests = list(dict.fromkeys(t for m in mutants if m.unit and m.where()[0] == "OK" and not m.missing_tests()
                               for t in m.tests))
    if not tests:
        return [], ""
    print(f"baseline: {len(tests)} unit test arguments with no mutant applied ...", file=sys.stderr, flush=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "baseline.log"
    with log_path.open("w", encoding="utf-8") as log:
        # A file that does not even import fails its mutants alone, not the whole run.
        code = subprocess.run([str(PYTEST), "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                               *tests], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                              check=False).returncode
    text = log_path.read_text(encoding="utf-8", errors="replace")
    failed = failed_tests(text)
    if code in {0, 1} and (code == 0 or failed):
        return failed, ""
    return failed, f"pytest exit {code}: {last_words(text)} (log: {log_path.relative_to(ROOT)})"


def covers(argument: str, node: str) -> bool:
    """Whether the pytest argument (a file, directory or node id) selects the node id."""
    return node == argument or node.startswith((argument + "::", argument.rstrip("/") + "/"))


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report(results: list[Result]) -> None:
    print("| mutant | breaks | caught by | result | s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {cell(r.mutant.id)} | {cell(r.mutant.why)} | {cell(r.detail)} | {r.verdict} | {r.seconds:.1f} |")
    counts = {v: sum(r.verdict == v for r in results) for v in (CAUGHT, SURVIVED, ERROR, STALE)}
    print(f"\nmutants: {counts[CAUGHT]} caught, {counts[SURVIVED]} survived, {counts[ERROR] + counts[STALE]} errors")


def listing(mutants: list[Mutant]) -> int:
    print("| mutant | file | find | tests |")
    print("|---|---|---|---|")
    stale = 0
    for m in mutants:
        verdict, why = m.where()
        stale += verdict == STALE
        missing = set(m.missing_tests())
        tests = " ".join(t + (" (missing)" if t.split("::", 1)[0] in missing else "") for t in m.tests)
        print(f"| {m.id} | {m.file} | {verdict}{': ' + why if why else ''} | {cell(tests)}"
              f"{' [unit]' if m.unit else ''} |")
    print(f"\nmutants: {len(mutants)} listed, {stale} stale")
    return 1 if stale else 0


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run this mutant (repeatable)")
    parser.add_argument("--unit-only", action="store_true", help="only mutants whose tests are all under tests/unit")
    parser.add_argument("--list", action="store_true", help="show each mutant and whether it is stale; run nothing")
    parser.add_argument("--table", type=Path, default=TABLE, help="the mutant table (default: tests/mutants.yml)")
    return parser.parse_args(argv)


def select(mutants: list[Mutant], args: argparse.Namespace) -> list[Mutant]:
    unknown = sorted(set(args.only) - {m.id for m in mutants})
    if unknown:
        die(f"--only: no mutant {', '.join(unknown)} (known: {', '.join(m.id for m in mutants)})")
    chosen = [m for m in mutants if (not args.only or m.id in args.only) and (not args.unit_only or m.unit)]
    if not chosen:
        die("nothing selected")
    return chosen


def preflight(mutants: list[Mutant], files: list[str]) -> tuple[list[str], str]:
    """(tests that fail with no mutant applied, why the run must not start or '')."""
    dirty = unclean(files)
    if dirty:
        return [], f"uncommitted changes (or not tracked by git) in {', '.join(dirty)}"
    failing, broken = baseline(mutants)
    if broken:
        return failing, f"the unit tests do not run with no mutant applied: {broken}"
    return failing, ""


def run_all(mutants: list[Mutant], failing: list[str]) -> tuple[list[Result], int]:
    """(results, 0) or, when a signal stopped the run, (the results so far, 128 + the signal)."""
    for sig in SIGNALS:
        signal.signal(sig, _interrupt)
    results: list[Result] = []
    try:
        for number, mutant in enumerate(mutants, 1):
            print(f"[{number}/{len(mutants)}] {mutant.id} ({mutant.file}) ...", file=sys.stderr, flush=True)
            results.append(run(mutant, failing))
            r = results[-1]
            print(f"[{number}/{len(mutants)}] {mutant.id}: {r.verdict} in {r.seconds:.1f} s: {r.detail}",
                  file=sys.stderr, flush=True)
    except SignalError as exc:
        print(f"mutants: stopped by {exc.args[0]}; the file of the mutant under test was put back", file=sys.stderr)
        return results, 128 + signal.Signals[exc.args[0]].value
    return results, 0


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    mutants = select(load(args.table), args)
    if args.list:
        return listing(mutants)
    files = sorted({m.file for m in mutants if m.path.exists()})
    failing, refusal = preflight(mutants, files)
    if refusal:
        print(f"mutants: refusing to start: {refusal}", file=sys.stderr)
        return 2
    try:
        results, stopped = run_all(mutants, failing)
    except RestoreError as exc:
        print(f"mutants: {exc}", file=sys.stderr)
        return 3
    report(results)
    changed = unclean(files)
    if changed:
        print(f"mutants: NOT restored (git diff not clean): {', '.join(changed)}", file=sys.stderr)
        return 3
    if stopped:
        return stopped
    return 0 if results and all(r.verdict == CAUGHT for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
