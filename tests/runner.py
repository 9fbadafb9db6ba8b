#!/usr/bin/env python3
"""The lab test suite in one job pool: the pytest groups of tests/groups.py and every Molecule scenario
(molecule/*/molecule.yml), SUITE_JOBS (4) at a time, longest first, one log per group in
.lab/suite-logs/. A group passes only on positive proof, never because nothing said it failed:

- pytest: exit 0, and its junit xml exists, parses and holds every test the group collected before the
  run, at least one passed, none failed or errored, and no skip (an xfail included) that
  tests/skips.yml does not list with its reason;
- Molecule: exit 0, and the log shows testinfra passing ("verify: Verifier completed successfully.")
  and, after it, the final destroy succeeding;
- a group killed by a signal or by its timeout (which kills its whole process group), or a dependent
  whose marker never appeared, failed. The run passes only when every selected group passed.

Before anything runs, each pytest group is collected and so is the whole tree (TREE in groups.py): a
test in no group or in two, a group that collects nothing, or a collection error fails the run there.

    tests/runner.py                     every group (make suite)
    tests/runner.py --kind pytest       the pytest groups (make e2e); --kind molecule (make molecule)
    tests/runner.py --only core         that group and the groups it waits for (repeatable)
    tests/runner.py --list              the groups in start order; --check-groups: collect and check only
    tests/runner.py --check-skips XML   every skipped test in junit XML is listed in tests/skips.yml
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Literal

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.1  # seconds between looks at the running groups
KILL_GRACE = 10.0  # SIGTERM to SIGKILL, for a group past its timeout
CLEANUP_TIMEOUT = 300
COLLECT_TIMEOUT = 300
DEFAULT_TREE = ["tests/integration", "tests/e2e"]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
BORDER = re.compile(r"^\s*\u2502 ?")  # Molecule frames a command's output with "  │ "
PYTEST_ERRORS = re.compile(r"^(FAILED|ERROR) |^E  ")
MOLECULE_ERRORS = re.compile(r"^(fatal|failed): |FAILED!|UNREACHABLE!|Traceback|AssertionError|^E ")

Kind = Literal["pytest", "molecule"]


class ConfigError(Exception):
    """A declaration the runner cannot use: tests/groups.py, tests/skips.yml or an option."""


@dataclass(frozen=True)
class After:
    """Start only once `marker` (a path relative to the checkout) exists; group `producer` writes it."""

    marker: str
    producer: str


@dataclass
class Group:
    """One process of the suite: pytest over `args` on `droplet`, or `molecule test -s <name>`."""

    name: str
    kind: Kind = "pytest"
    args: list[str] = field(default_factory=list)
    droplet: str | None = None
    estimate: int = 300  # seconds, to start the longest first
    after: After | None = None
    timeout: int | None = None  # seconds; None: --timeout
    env: dict[str, str] = field(default_factory=dict)  # added to the group's environment


@dataclass
class Suite:
    root: Path
    groups: list[Group]
    prepare: list[list[str]]
    tree: list[str]
    cleanup: list[str]


@dataclass
class Outcome:
    passed: bool
    seconds: float
    detail: str
    log: Path | None = None
    cpu: float = 0.0  # CPU seconds of the group's own process tree (what it waited for)


@dataclass(frozen=True)
class Case:
    """One <testcase> of a junit xml."""

    classname: str
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""


@dataclass
class Collected:
    ids: list[str]
    error: str | None = None


# ---------------------------------------------------------------------------------------- declarations


def load_suite(root: Path, groups_file: Path) -> Suite:
    module = _import_file(groups_file)
    declared = list(getattr(module, "GROUPS", []))
    groups = with_scenarios(declared, discover_scenarios(root), int(getattr(module, "MOLECULE_ESTIMATE", 300)))
    suite = Suite(
        root=root,
        groups=groups,
        prepare=[list(command) for command in getattr(module, "PREPARE", [])],
        tree=list(getattr(module, "TREE", DEFAULT_TREE)),
        cleanup=list(getattr(module, "CLEANUP", [])),
    )
    problems = declaration_problems(suite)
    if problems:
        raise ConfigError(f"{groups_file}:\n  " + "\n  ".join(problems))
    return suite


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"{path}: no such groups file")
    spec = importlib.util.spec_from_file_location("suite_groups", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover_scenarios(root: Path) -> list[str]:
    return sorted(path.parent.name for path in root.glob("molecule/*/molecule.yml"))


def with_scenarios(declared: list[Group], scenarios: list[str], estimate: int) -> list[Group]:
    """The declared groups, then a Molecule group for each scenario groups.py does not declare."""
    named = {g.name for g in declared if isinstance(g, Group) and g.kind == "molecule"}
    unknown = sorted(named - set(scenarios))
    if unknown:
        raise ConfigError(f"Molecule groups without a molecule/<name>/molecule.yml: {', '.join(unknown)}")
    return declared + [Group(s, kind="molecule", estimate=estimate) for s in scenarios if s not in named]


def declaration_problems(suite: Suite) -> list[str]:
    groups = [g for g in suite.groups if isinstance(g, Group)]
    problems = [f"GROUPS: {g!r} is not a Group" for g in suite.groups if not isinstance(g, Group)]
    names = Counter(g.name for g in groups)
    problems += [f"group {n}: declared {c} times" for n, c in names.items() if c > 1]
    for group in groups:
        problems += group_problems(group, set(names))
    droplets = defaultdict(list)
    for group in groups:
        if group.droplet:
            droplets[group.droplet].append(group.name)
    problems += [f"droplet {droplet}: used by {', '.join(names)} (one group per droplet)"
                 for droplet, names in droplets.items() if len(names) > 1]
    problems += cycle_problems(groups)
    problems += [f"PREPARE: {c!r} is not a list of strings" for c in suite.prepare if not _strings(c)]
    if not _strings(suite.cleanup) or not _strings(suite.tree):
        problems.append("CLEANUP and TREE must be lists of strings")
    return problems


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def group_problems(group: Group, names: set[str]) -> list[str]:
    where = f"group {group.name}"
    problems = []
    if not NAME.match(group.name):
        problems.append(f"{where}: a name is letters, digits, '_', '.' and '-'")
    if group.kind not in ("pytest", "molecule"):
        problems.append(f"{where}: kind {group.kind!r} is not pytest or molecule")
    if group.kind == "pytest" and (not group.args or not _strings(list(group.args))):
        problems.append(f"{where}: args must list test files or ids")
    if group.kind == "molecule" and group.args:
        problems.append(f"{where}: a Molecule group takes no args")
    if group.estimate <= 0 or (group.timeout is not None and group.timeout <= 0):
        problems.append(f"{where}: estimate and timeout are seconds > 0")
    if group.after is not None:
        problems += after_problems(where, group, names)
    return problems


def after_problems(where: str, group: Group, names: set[str]) -> list[str]:
    after = group.after
    if not isinstance(after, After):
        return [f"{where}: after must be After(marker, producer)"]
    problems = []
    if after.producer not in names or after.producer == group.name:
        problems.append(f"{where}: after names producer {after.producer!r}, not another group")
    if Path(after.marker).is_absolute() or ".." in Path(after.marker).parts:
        problems.append(f"{where}: after marker {after.marker!r} must be a path inside the checkout")
    return problems


def cycle_problems(groups: list[Group]) -> list[str]:
    producer = {g.name: g.after.producer for g in groups if isinstance(g.after, After)}
    problems = []
    for start, first in producer.items():
        seen, name = [start], first
        while name in producer and name not in seen:
            seen.append(name)
            name = producer[name]
        if name == start:
            problems.append(f"group {start}: waits for itself ({' -> '.join([*seen, start])})")
    return problems


def select(suite: Suite, only: Sequence[str], kind: str | None) -> list[Group]:
    """The groups to run, in declaration order: `only` (all when empty) of `kind`, plus their producers."""
    by_name = {g.name: g for g in suite.groups}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise ConfigError(f"--only {', '.join(unknown)}: no such group (groups: {', '.join(by_name)})")
    wanted = {g.name for g in suite.groups if (not only or g.name in only) and (kind is None or g.kind == kind)}
    pending = list(wanted)
    while pending:
        after = by_name[pending.pop()].after
        if after is not None and after.producer not in wanted:
            wanted.add(after.producer)
            pending.append(after.producer)
    return [g for g in suite.groups if g.name in wanted]


def longest_first(groups: Sequence[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: -g.estimate)


# --------------------------------------------------------------------------------------------- skips


SKIP_ENTRY = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*:\s+(\S.*?)\s*$')


def load_skips(path: Path) -> dict[str, str]:
    """tests/skips.yml: one `"<test id>": <reason>` a line (a YAML mapping; comments and `---` allowed)."""
    if not path.exists():
        return {}
    skips: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#") or line.strip() == "---":
            continue
        match = SKIP_ENTRY.match(line)
        if not match:
            raise ConfigError(f'{path}:{number}: expected `"<test id>": <reason>`, got {line!r}')
        test_id, reason = json.loads(f'"{match[1]}"'), _scalar(match[2])
        if not reason:
            raise ConfigError(f"{path}:{number}: {test_id} has no reason")
        if test_id in skips:
            raise ConfigError(f"{path}:{number}: {test_id} is listed twice")
        skips[test_id] = reason
    return skips


def _scalar(text: str) -> str:
    if text.startswith('"'):
        return str(json.loads(text))
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    return text.split(" #", 1)[0].strip()


def read_junit(path: Path) -> list[Case]:
    return [_case(testcase) for testcase in ET.parse(path).getroot().iter("testcase")]


def _case(testcase: ET.Element) -> Case:
    children = {child.tag: child for child in testcase}
    classname, name = testcase.get("classname", ""), testcase.get("name", "")
    for tag, outcome in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
        if tag in children:
            message = children[tag].get("message", "")
            if children[tag].get("type") == "pytest.xfail":  # an expected failure proves no pass either
                message = f"xfail: {message}"
            return Case(classname, name, outcome, message)
    return Case(classname, name, "passed")


def junit_key(test_id: str) -> tuple[str, str]:
    """(classname, name) of a test id in pytest's junit xml (pytest's mangle_test_address)."""
    path, bracket, params = test_id.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def id_of_case(case: Case, root: Path, known: Mapping[tuple[str, str], str]) -> str:
    """The pytest id of a junit test case: from the collected ids, else found through the files."""
    if (case.classname, case.name) in known:
        return known[case.classname, case.name]
    parts, tail = case.classname.split("."), [case.name]
    if not case.classname:  # a whole module's report (its skip or its collection error)
        parts, tail = case.name.split("."), []
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (root / path).is_file():
            return "::".join([path, *parts[cut:], *tail])
    return "::".join(p for p in (case.classname, case.name) if p)


def unlisted_skips(cases: list[Case], skips: Mapping[str, str], root: Path,
                   known: Mapping[tuple[str, str], str]) -> list[str]:
    skipped = [(id_of_case(c, root, known), c.message) for c in cases if c.outcome == "skipped"]
    return [f"{test_id} ({message})" for test_id, message in skipped if test_id not in skips]


def check_skips(xml: Path, skips_file: Path, root: Path) -> int:
    """--check-skips: every skipped test of `xml` is listed in `skips_file` (make unit)."""
    try:
        cases, skips = read_junit(xml), load_skips(skips_file)
    except (OSError, ET.ParseError, ConfigError) as exc:
        print(f"skips: {exc}")
        return 1
    unlisted = unlisted_skips(cases, skips, root, {})
    for entry in unlisted:
        print(f"skips: {entry} skipped but not listed in {_rel(skips_file, root)}")
    skipped = sum(c.outcome == "skipped" for c in cases)
    print(f"skips: {len(cases)} tests, {skipped} skipped, {len(unlisted)} of them not listed")
    return 1 if unlisted or not cases else 0


# -------------------------------------------------------------------------------------------- coverage


def collect(root: Path, args: Sequence[str], droplet: str | None) -> Collected:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               f"--rootdir={root}", *args]
    try:
        proc = subprocess.run(command, cwd=root, env=group_env(droplet), capture_output=True, text=True,
                              check=False, timeout=COLLECT_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Collected([], f"collection timed out after {COLLECT_TIMEOUT} s")
    ids = parse_collected(proc.stdout)
    if proc.returncode not in (0, 5):  # 5: nothing collected, judged by the caller
        output = (proc.stdout + proc.stderr).strip().splitlines()
        return Collected(ids, f"`{shlex.join(args)}` does not collect (exit {proc.returncode}):\n    "
                              + "\n    ".join(output[-15:]))
    return Collected(ids)


def parse_collected(stdout: str) -> list[str]:
    """The ids `pytest --collect-only -q` prints, one a line, before its first blank line."""
    ids = []
    for line in stdout.splitlines():
        if not line.strip():
            break
        if "::" in line:
            ids.append(line.strip())
    return ids


def check_groups(suite: Suite, jobs: int) -> tuple[dict[str, list[str]], list[str]]:
    """Every pytest group's ids, and what is wrong with them: a collection error, an empty group, a
    test of the tree in no group, a test in two."""
    groups = [g for g in suite.groups if g.kind == "pytest"]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        tree_job = pool.submit(collect, suite.root, suite.tree, None)
        jobs_of = {g.name: pool.submit(collect, suite.root, g.args, g.droplet) for g in groups}
    tree = tree_job.result()
    problems = [f"collecting the tree ({' '.join(suite.tree)}): {tree.error}"] if tree.error else []
    ids = {}
    for name, job in jobs_of.items():
        collected = job.result()
        ids[name] = collected.ids
        if collected.error:
            problems.append(f"group {name}: {collected.error}")
        elif not collected.ids:
            problems.append(f"group {name}: collects no test")
    return ids, problems + coverage_problems(ids, tree.ids)


def coverage_problems(ids: Mapping[str, list[str]], tree: list[str]) -> list[str]:
    owners: dict[str, list[str]] = defaultdict(list)
    for name, group_ids in ids.items():
        for test_id in dict.fromkeys(group_ids):
            owners[test_id].append(name)
    problems = [f"{test_id}: in no group" for test_id in tree if not owners.get(test_id)]
    problems += [f"{test_id}: in {len(names)} groups ({', '.join(names)})"
                 for test_id, names in owners.items() if len(names) > 1]
    return problems


# ---------------------------------------------------------------------------------------------- judging


def exit_problems(code: int, timed_out: bool, timeout: int) -> list[str]:
    if timed_out:
        return [f"timed out after {timeout} s, its process group killed"]
    if code < 0:
        return [f"killed by {_signal_name(-code)}"]
    return [f"exited {code}"] if code else []


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def pytest_problems(xml: Path, expected: Sequence[str], skips: Mapping[str, str], root: Path) -> list[str]:
    """What keeps a pytest group's junit xml from proving it passed (nothing: it did)."""
    try:
        cases = read_junit(xml)
    except FileNotFoundError:
        return ["no junit xml: pytest did not finish its session"]
    except (OSError, ET.ParseError) as exc:
        return [f"junit xml unreadable: {exc}"]
    counts = Counter(c.outcome for c in cases)
    problems = []
    if counts["failed"] or counts["error"]:
        problems.append(f"junit: {counts['failed']} failed, {counts['error']} errors")
    if not counts["passed"]:
        problems.append(f"junit: no test passed ({len(cases)} tests)")
    known = {junit_key(test_id): test_id for test_id in expected}
    seen = {(c.classname, c.name) for c in cases}
    missing = [test_id for key, test_id in known.items() if key not in seen]
    if missing:
        problems.append(f"junit lacks {len(missing)} of the {len(known)} collected tests, e.g. {missing[0]}")
    unlisted = unlisted_skips(cases, skips, root, known)
    if unlisted:
        problems.append("skipped without a reason in tests/skips.yml: " + ", ".join(unlisted))
    return problems


def plain_lines(text: str) -> list[str]:
    return [BORDER.sub("", ANSI.sub("", line)) for line in text.splitlines()]


def molecule_line(scenario: str, action: str, message: str) -> re.Pattern[str]:
    """A line Molecule logs as it goes: `INFO     docker ➜ verify: <message>` with colours on,
    `INFO     [docker > verify] <message>` without (its closing DETAILS list has no level, so no match)."""
    where = rf"(?:{re.escape(scenario)} \u279c {action}:|\[{re.escape(scenario)} > {action}\])"
    return re.compile(rf"^INFO\s+{where} {re.escape(message)}")


def molecule_problems(lines: list[str], scenario: str) -> list[str]:
    """What keeps a Molecule log from proving its scenario passed: testinfra's pass, then the destroy."""
    verified = molecule_line(scenario, "verify", "Verifier completed successfully.")
    destroyed = molecule_line(scenario, "destroy", "Executed: Successful")
    last_verify = max((i for i, line in enumerate(lines) if verified.search(line)), default=None)
    if last_verify is None:
        return ["no 'verify: Verifier completed successfully.' line: testinfra did not run or did not pass"]
    if not any(destroyed.search(line) for line in lines[last_verify:]):
        return ["no 'destroy: Executed: Successful' after verify: the final destroy did not run"]
    return []


def molecule_result(lines: list[str], scenario: str) -> str:
    """Its SCENARIO RECAP line (actions=9  successful=9 ... failed=0), or what proved the pass."""
    recap = re.compile(rf"^{re.escape(scenario)}\s*:\s*(actions=.*)$")
    for line in reversed(lines):
        match = recap.match(line.strip())
        if match:
            return " ".join(match[1].split())
    return "verify passed, destroy ran"


def last_line(lines: list[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


def grep(lines: list[str], pattern: re.Pattern[str], before: int, after: int, limit: int) -> list[str]:
    """`grep -n -B before -A after pattern | head -n limit`."""
    hits = [i for i, line in enumerate(lines) if pattern.search(line)]
    shown: list[int] = []
    for hit in hits:
        window = range(max(0, hit - before), min(len(lines), hit + after + 1))
        shown += [i for i in window if not shown or i > shown[-1]]
    out, previous = [], None
    for i in shown:
        if (before or after) and previous is not None and i > previous + 1:
            out.append("--")
        out.append(f"{i + 1}{':' if i in hits else '-'}{lines[i]}")
        previous = i
    return out[:limit]


def first_errors(group: Group, log: Path) -> list[str]:
    lines = plain_lines(log.read_text(errors="replace")) if log.exists() else []
    if group.kind == "molecule":
        found = grep(lines, MOLECULE_ERRORS, 4, 30, 120)
        return found or lines[-20:]
    return grep(lines, PYTEST_ERRORS, 0, 0, 60) + lines[-5:]


# ------------------------------------------------------------------------------------------- processes


def group_env(droplet: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    if droplet:
        env["BERTH_DROPLET"] = droplet
    return env


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a process group started with start_new_session (its id is the leader's pid)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def molecule_program() -> str:
    """`molecule` on PATH (make puts .venv/bin first), else the one beside this Python."""
    return shutil.which("molecule") or str(Path(sys.executable).parent / "molecule")


def group_command(group: Group, xml: Path, root: Path) -> list[str]:
    if group.kind == "molecule":
        return [molecule_program(), "test", "-s", group.name]
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
            f"--rootdir={root}", *group.args]


def run_blocking(command: list[str], root: Path, log: IO[bytes], timeout: int) -> str | None:
    """Run one PREPARE command in its own process group; what went wrong, or None."""
    log.write(f"$ {shlex.join(command)}\n".encode())
    log.flush()
    try:
        proc = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        return f"{shlex.join(command)}: {exc}"
    try:
        code = proc.wait(timeout)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"{shlex.join(command)}: timed out after {timeout} s"
    signal_group(proc.pid, signal.SIGKILL)  # whatever it left behind
    problems = exit_problems(code, timed_out=False, timeout=timeout)
    return f"{shlex.join(command)}: {problems[0]}" if problems else None


def run_prepare(commands: list[list[str]], root: Path, log_path: Path, timeout: int) -> str | None:
    with log_path.open("wb") as log:
        for command in commands:
            error = run_blocking(command, root, log, timeout)
            if error:
                return error
    return None


@dataclass
class Job:
    group: Group
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    started: float
    timeout: int
    cleanup: bool = False
    term_sent: float | None = None
    timed_out: bool = False

    @property
    def deadline(self) -> float:
        return self.started + self.timeout


@dataclass
class Options:
    jobs: int
    timeout: int
    logs: Path
    skips: dict[str, str]
    cleanup: bool = True


def reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, float]:
    """The exit code of a finished child (None while it runs) and the CPU seconds it and the processes it
    waited for used: what a group costs on a shared machine, where its wall time depends on the others."""
    if proc.returncode is not None:
        return proc.returncode, 0.0
    try:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:
        return proc.poll(), 0.0
    if pid == 0:
        return None, 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


class Pool:
    """Runs groups `jobs` at a time, longest first; a dependent waits for its marker without a slot."""

    def __init__(self, suite: Suite, groups: list[Group], options: Options, ids: Mapping[str, list[str]]) -> None:
        self.suite, self.options, self.ids = suite, options, ids
        self.ready = longest_first([g for g in groups if g.after is None])
        self.waiting = [g for g in groups if g.after is not None]
        self.running: list[Job] = []
        self.outcomes: dict[str, Outcome] = {}
        self.began = time.monotonic()

    def run(self) -> dict[str, Outcome]:
        try:
            while self.ready or self.waiting or self.running:
                self._reap()
                self._release_dependents()
                self._fill()
                time.sleep(POLL)
        except KeyboardInterrupt:
            self._abort("interrupted")
        return self.outcomes

    def _say(self, message: str) -> None:
        print(f"suite: [{time.monotonic() - self.began:5.0f} s] {message}", flush=True)

    def _fill(self) -> None:
        while self.ready and len(self.running) < self.options.jobs:
            group = self.ready.pop(0)
            job = self._start(group)
            if job is not None:
                self.running.append(job)

    def _start(self, group: Group) -> Job | None:
        log_path, xml = self._paths(group)
        xml.unlink(missing_ok=True)  # a junit xml from an earlier run proves nothing about this one
        command = group_command(group, xml, self.suite.root)
        env = group_env(group.droplet if group.kind == "pytest" else None, group.env)
        job = self._spawn(group, command, log_path, env, group.timeout or self.options.timeout)
        if job is None:
            self.outcomes[group.name] = Outcome(False, 0, f"could not start {command[0]}; log: {self._rel(log_path)}",
                                                log_path)
            self._say(f"{group.name} FAILED: could not start")
        else:
            self._say(f"start {group.name}" + (f" on {group.droplet}" if group.droplet else ""))
        return job

    def _spawn(self, group: Group, command: list[str], log_path: Path, env: dict[str, str], timeout: int,
               cleanup: bool = False) -> Job | None:
        log = log_path.open("wb")
        log.write(f"$ {shlex.join(command)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(command, cwd=self.suite.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.write(f"{exc}\n".encode())
            log.close()
            return None
        return Job(group, proc, log, time.monotonic(), timeout, cleanup=cleanup)

    def _paths(self, group: Group) -> tuple[Path, Path]:
        return self.options.logs / f"{group.name}.log", self.options.logs / f"{group.name}.xml"

    def _rel(self, path: Path) -> str:
        return _rel(path, self.suite.root)

    def _reap(self) -> None:
        now = time.monotonic()
        for job in list(self.running):
            code, cpu = reap(job.proc)
            if code is None:
                self._watch_deadline(job, now)
                continue
            signal_group(job.proc.pid, signal.SIGKILL)  # whatever the group left behind
            job.log.close()
            self.running.remove(job)
            if not job.cleanup:
                self._finish(job, code, now, cpu)

    def _watch_deadline(self, job: Job, now: float) -> None:
        if now < job.deadline:
            return
        if job.term_sent is None:
            job.timed_out, job.term_sent = True, now
            signal_group(job.proc.pid, signal.SIGTERM)
        elif now - job.term_sent >= KILL_GRACE:
            signal_group(job.proc.pid, signal.SIGKILL)

    def _finish(self, job: Job, code: int, now: float, cpu: float = 0.0) -> None:
        group = job.group
        log_path, xml = self._paths(group)
        lines = plain_lines(log_path.read_text(errors="replace"))
        problems = exit_problems(code, job.timed_out, job.timeout)
        if group.kind == "pytest":
            problems += pytest_problems(xml, self.ids.get(group.name, []), self.options.skips, self.suite.root)
            result = last_line(lines)
        else:
            problems += [] if problems else molecule_problems(lines, group.name)
            result = molecule_result(lines, group.name)
        detail = result if not problems else "; ".join(problems) + f"; log: {self._rel(log_path)}"
        self.outcomes[group.name] = Outcome(not problems, now - job.started, detail, log_path, cpu)
        self._say(f"end {group.name}: {'passed' if not problems else 'FAILED'}")
        self._clean(group)

    def _clean(self, group: Group) -> None:
        """Destroy the group's droplet (its failure is ignored); the slot stays taken meanwhile."""
        if not (self.options.cleanup and group.droplet and self.suite.cleanup and group.kind == "pytest"):
            return
        command = [arg.replace("{droplet}", group.droplet) for arg in self.suite.cleanup]
        log_path = self.options.logs / f"{group.name}.cleanup.log"
        job = self._spawn(group, command, log_path, group_env(None), CLEANUP_TIMEOUT, cleanup=True)
        if job is not None:
            self.running.append(job)

    def _release_dependents(self) -> None:
        for group in list(self.waiting):
            assert group.after is not None
            if (self.suite.root / group.after.marker).exists():
                self.waiting.remove(group)
                self.ready = longest_first([*self.ready, group])
            elif group.after.producer in self.outcomes:
                self.waiting.remove(group)
                producer = "passed" if self.outcomes[group.after.producer].passed else "failed"
                self.outcomes[group.name] = Outcome(
                    False, 0, f"not run: {group.after.marker} never appeared ({group.after.producer} ended {producer})")
                self._say(f"end {group.name}: FAILED, not run")

    def _abort(self, reason: str) -> None:
        for job in self.running:
            signal_group(job.proc.pid, signal.SIGKILL)
        for job in self.running:
            job.proc.wait()
            job.log.close()
            if not job.cleanup:
                self.outcomes[job.group.name] = Outcome(False, time.monotonic() - job.started, reason, None)
        for group in self.ready + self.waiting:
            self.outcomes[group.name] = Outcome(False, 0, f"not run: {reason}")
        self.running, self.ready, self.waiting = [], [], []


# ---------------------------------------------------------------------------------------------- report


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def report(groups: list[Group], outcomes: Mapping[str, Outcome], problems: list[str],
           phases: Mapping[str, float]) -> int:
    print()
    results = {g.name: outcomes.get(g.name) or Outcome(False, 0, "no result recorded") for g in groups}
    for name, outcome in results.items():
        state = "passed" if outcome.passed else "FAILED"
        cpu = f", {outcome.cpu:.0f} CPU-s in its own processes" if outcome.cpu else ""
        print(f"suite {name}: {state} in {outcome.seconds:.0f} s ({outcome.detail}){cpu}")
    print("suite: time " + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in phases.items()))
    for problem in problems[:100]:
        print(f"suite: {problem}")
    if len(problems) > 100:
        print(f"suite: ... and {len(problems) - 100} more")
    for group in groups:
        outcome = results[group.name]
        if not outcome.passed and outcome.log is not None:
            print(f"===== suite {group.name}: first errors ({_rel(outcome.log, ROOT)}) =====")
            print("\n".join(first_errors(group, outcome.log)))
    missing = [name for name, outcome in results.items() if not outcome.passed]
    if missing:
        print(f"suite: not passed: {', '.join(missing)}")
    passed = len(groups) - len(missing)
    print(f"suite: {passed} passed, {len(missing)} failed")
    return 0 if passed == len(groups) and not problems else 1


def print_list(groups: list[Group]) -> None:
    for group in longest_first([g for g in groups if g.after is None]) + [g for g in groups if g.after]:
        waits = f" after {group.after.producer} writes {group.after.marker}" if group.after else ""
        where = f" on {group.droplet}" if group.droplet else ""
        what = shlex.join(group.args) if group.kind == "pytest" else f"molecule test -s {group.name}"
        print(f"{group.name}: {group.kind}{where}, ~{group.estimate} s{waits}: {what}")


# ------------------------------------------------------------------------------------------------ main


def run_suite(suite: Suite, groups: list[Group], options: Options, check_only: bool) -> int:
    began = time.monotonic()
    options.logs.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}
    ids: dict[str, list[str]] = {}
    problems: list[str] = []
    if check_only or any(g.kind == "pytest" for g in groups):
        ids, problems = check_groups(suite, options.jobs)
    phases["collect"] = time.monotonic() - began
    if check_only:
        for problem in problems:
            print(f"suite: {problem}")
        print(f"suite: {sum(map(len, ids.values()))} tests in {len(ids)} pytest groups, {len(problems)} problems")
        return 1 if problems else 0
    if not problems:
        problems += _prepare(suite, options, phases)
    outcomes: dict[str, Outcome] = {}
    if problems:
        outcomes = {g.name: Outcome(False, 0, "not run: " + problems[0].split("\n")[0]) for g in groups}
    else:
        for group in groups:
            if group.after is not None:
                (suite.root / group.after.marker).unlink(missing_ok=True)  # only this run's producer counts
        start, (busy, total) = time.monotonic(), machine_cpu()
        outcomes = Pool(suite, groups, options, ids).run()
        phases["groups (wall)"] = time.monotonic() - start
        busy, total = machine_cpu()[0] - busy, machine_cpu()[1] - total
        if total:
            own = sum(o.cpu for o in outcomes.values())
            print(f"suite: the machine's CPUs were busy {100 * busy / total:.0f} % of the groups' wall time "
                  f"({busy:.0f} of {total:.0f} CPU-s; the groups' own processes {own:.0f}, the rest droplets, "
                  "their containers and whatever else runs here)")
    phases["total"] = time.monotonic() - began
    return report(groups, outcomes, problems, phases)


def _prepare(suite: Suite, options: Options, phases: dict[str, float]) -> list[str]:
    start = time.monotonic()
    log_path = options.logs / "prepare.log"
    error = run_prepare(suite.prepare, suite.root, log_path, options.timeout) if suite.prepare else None
    phases["prepare"] = time.monotonic() - start
    return [f"prepare failed: {error} (log: {_rel(log_path, suite.root)})"] if error else []


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run this group (repeatable)")
    parser.add_argument("--kind", choices=["pytest", "molecule"], help="run only the groups of this kind")
    parser.add_argument("--list", action="store_true", help="print the selected groups in start order")
    parser.add_argument("--check-groups", action="store_true", help="collect and check coverage; run nothing")
    parser.add_argument("--check-skips", type=Path, metavar="XML", help="check a junit xml's skips and exit")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("SUITE_JOBS", "4")),
                        help="groups at a time (SUITE_JOBS, 4)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per group (1800)")
    parser.add_argument("--no-cleanup", action="store_true", help="keep each group's droplet")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (the one holding this file)")
    parser.add_argument("--groups-file", type=Path, help="the groups (ROOT/tests/groups.py)")
    parser.add_argument("--skips", type=Path, help="the allowed skips (ROOT/tests/skips.yml)")
    parser.add_argument("--logs", type=Path, help="the log directory (ROOT/.lab/suite-logs)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout < 1:
        parser.error("--jobs and --timeout must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.root.resolve()
    skips_file = (args.skips or root / "tests" / "skips.yml").resolve()
    if args.check_skips:
        return check_skips(args.check_skips, skips_file, root)
    try:
        suite = load_suite(root, (args.groups_file or root / "tests" / "groups.py").resolve())
        groups = select(suite, args.only, args.kind)
        skips = load_skips(skips_file)
    except ConfigError as exc:
        print(f"suite: {exc}", file=sys.stderr)
        return 2
    if args.list:
        print_list(groups)
        return 0
    logs = (args.logs or root / ".lab" / "suite-logs").resolve()
    options = Options(args.jobs, args.timeout, logs, skips, cleanup=not args.no_cleanup)
    try:
        return run_suite(suite, groups, options, args.check_groups)
    except KeyboardInterrupt:
        print("suite: interrupted")
        return 130


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # tests/groups.py imports Group from `runner`: make that this module, so there is one Group class.
    sys.modules.setdefault("runner", sys.modules[__name__])
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
