"""tests/runner.py's guards, each proven with real subprocesses on fake groups in a throwaway checkout:
a group passes only on proof, and the run passes only when every group did."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import runner  # tests/ is on pytest's pythonpath (pyproject.toml)

RUNNER = Path(runner.__file__).resolve()
HEADER = """\
from runner import After, Group
TREE = ["tests/e2e"]
CLEANUP = ["sh", "-c", "echo {droplet} >> cleaned"]
"""
PASSING = "def test_{name}():\n    assert True\n"


def checkout(root: Path, groups: str, files: dict[str, str], skips: str | None = None) -> Path:
    """A fake checkout: tests/groups.py (after HEADER), test files, optionally tests/skips.yml."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "tests" / "groups.py").write_text(HEADER + textwrap.dedent(groups))
    if skips is not None:
        (root / "tests" / "skips.yml").write_text(skips)
    return root


def suite(root: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # a fake pytest run needs no plugin
    env.pop("PYTEST_ADDOPTS", None)
    if path:
        env["PATH"] = f"{path}:{env['PATH']}"
    return subprocess.run([sys.executable, str(RUNNER), "--root", str(root), "--jobs", "3", *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def last(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


TWO_GROUPS = """\
GROUPS = [
    Group("a", droplet="droplet-a", estimate=5, args=["tests/e2e/test_a.py"]),
    Group("b", droplet="droplet-b", estimate=9, args=["tests/e2e/test_b.py"]),
]
"""


def test_a_killed_group_or_one_without_junit_fails_the_run_and_is_named(tmp_path):
    groups = TWO_GROUPS + 'GROUPS.append(Group("c", droplet="droplet-c", args=["tests/e2e/test_c.py"]))\n'
    killed = "import os, signal\n\ndef test_b():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    quiet_exit = "import os\n\ndef test_c():\n    os._exit(0)  # exit 0, yet the session never finished\n"
    root = checkout(tmp_path, groups, {"tests/e2e/test_a.py": PASSING.format(name="a"),
                                       "tests/e2e/test_b.py": killed, "tests/e2e/test_c.py": quiet_exit})
    (root / ".lab/suite-logs").mkdir(parents=True)
    (root / ".lab/suite-logs/c.xml").write_text('<testsuite><testcase classname="tests.e2e.test_c" name="test_c"/>'
                                                "</testsuite>")  # a stale pass from an earlier run
    result = suite(root)
    assert result.returncode == 1
    assert "suite b: FAILED in" in result.stdout and "killed by SIGKILL; no junit xml" in result.stdout
    assert "suite c: FAILED in" in result.stdout and "(no junit xml" in result.stdout
    assert "suite: not passed: b, c" in result.stdout
    assert last(result) == "suite: 1 passed, 2 failed"
    assert "droplet-b" in (root / "cleaned").read_text()  # a failed group's droplet is destroyed too


def test_a_test_in_no_group_or_in_two_or_an_empty_group_fails_the_run_before_anything_runs(tmp_path):
    groups = """\
    GROUPS = [
        Group("a", droplet="droplet-a", args=["tests/e2e/test_a.py", "tests/e2e/test_b.py"]),
        Group("b", droplet="droplet-b", args=["tests/e2e/test_b.py"]),
        Group("empty", droplet="droplet-e", args=["tests/e2e/test_a.py", "-k", "no_such_test"]),
    ]
    """
    files = {f"tests/e2e/test_{n}.py": PASSING.format(name=n) for n in "abc"}
    result = suite(checkout(tmp_path, groups, files))
    assert result.returncode == 1
    assert "suite: tests/e2e/test_c.py::test_c: in no group" in result.stdout
    assert "suite: tests/e2e/test_b.py::test_b: in 2 groups (a, b)" in result.stdout
    assert "suite: group empty: collects no test" in result.stdout
    assert "suite a: FAILED in 0 s (not run: group empty: collects no test)" in result.stdout
    assert last(result) == "suite: 0 passed, 3 failed"
    assert not (tmp_path / "cleaned").exists()


SKIPPING = """\
import pytest

def test_b():
    assert True

@pytest.mark.skip(reason="needs a second region")
def test_b_far():
    assert True
"""


def test_the_happy_path_passes_every_group_on_its_droplet_and_cleans_each(tmp_path):
    check_droplet = "import os\n\ndef test_a():\n    assert os.environ['BERTH_DROPLET'] == 'droplet-a'\n"
    listed = '---\n"tests/e2e/test_b.py::test_b_far": one region in the lab\n'
    root = checkout(tmp_path, TWO_GROUPS, {"tests/e2e/test_a.py": check_droplet, "tests/e2e/test_b.py": SKIPPING},
                    skips=listed)
    result = suite(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "suite a: passed in " in result.stdout and "(1 passed in" in result.stdout
    assert "suite b: passed in " in result.stdout and "(1 passed, 1 skipped in" in result.stdout
    assert "suite: time collect" in result.stdout and "groups (wall)" in result.stdout
    assert last(result) == "suite: 2 passed, 0 failed"
    assert sorted((root / "cleaned").read_text().split()) == ["droplet-a", "droplet-b"]
    assert (root / ".lab/suite-logs/a.xml").exists() and (root / ".lab/suite-logs/b.log").exists()


def test_a_skip_fails_the_run_unless_skips_yml_lists_it_with_its_reason_which_the_happy_path_does(tmp_path):
    root = checkout(tmp_path, TWO_GROUPS, {"tests/e2e/test_a.py": PASSING.format(name="a"),
                                           "tests/e2e/test_b.py": SKIPPING})
    result = suite(root)
    assert result.returncode == 1
    assert ("suite b: FAILED in" in result.stdout and "skipped without a reason in tests/skips.yml: "
            "tests/e2e/test_b.py::test_b_far (needs a second region)" in result.stdout)
    assert last(result) == "suite: 1 passed, 1 failed"
    xml = root / ".lab/suite-logs/b.xml"
    unlisted = suite(root, "--check-skips", str(xml))
    assert unlisted.returncode == 1
    assert "skips: tests/e2e/test_b.py::test_b_far (needs a second region) skipped but not listed" in unlisted.stdout

    (root / "tests/skips.yml").write_text('---\n"tests/e2e/test_b.py::test_b_far": one region in the lab\n')
    listed = suite(root, "--check-skips", str(xml))
    assert listed.returncode == 0, listed.stdout
    assert last(listed) == "skips: 2 tests, 1 skipped, 0 of them not listed"


def test_a_dependent_starts_on_its_marker_and_fails_when_it_never_appears(tmp_path):
    groups = """\
    GROUPS = [
        Group("maker", args=["tests/e2e/test_maker.py"]),
        Group("user", args=["tests/e2e/test_user.py"], after=After(".lab/made", "maker")),
        Group("idle", args=["tests/e2e/test_idle.py"]),
        Group("waiter", args=["tests/e2e/test_waiter.py"], after=After(".lab/never", "idle")),
    ]
    """
    files = {
        "tests/e2e/test_maker.py": "from pathlib import Path\n\ndef test_maker():\n    Path('.lab/made').touch()\n",
        "tests/e2e/test_user.py": "from pathlib import Path\n\ndef test_user():\n"
                                  "    assert Path('.lab/made').exists()\n",
        "tests/e2e/test_idle.py": PASSING.format(name="idle"),
        "tests/e2e/test_waiter.py": PASSING.format(name="waiter"),
    }
    root = checkout(tmp_path, groups, files)
    (root / ".lab").mkdir()
    (root / ".lab/never").touch()  # from an earlier run: it must not count
    result = suite(root)
    assert result.returncode == 1
    assert "suite user: passed" in result.stdout
    assert "suite waiter: FAILED in 0 s (not run: .lab/never never appeared (idle ended passed))" in result.stdout
    assert last(result) == "suite: 3 passed, 1 failed"
    listed = suite(root, "--list", "--only", "user")
    assert listed.stdout.splitlines() == ["maker: pytest, ~300 s: tests/e2e/test_maker.py",
                                          "user: pytest, ~300 s after maker writes .lab/made: tests/e2e/test_user.py"]


def test_a_group_past_its_timeout_fails_and_its_whole_process_group_is_killed(tmp_path):
    slow = """\
    import subprocess, time
    from pathlib import Path

    def test_slow():
        child = subprocess.Popen(["sleep", "60"])
        Path("child.pid").write_text(str(child.pid))
        time.sleep(60)
    """
    root = checkout(tmp_path, 'GROUPS = [Group("slow", args=["tests/e2e/test_slow.py"])]\n',
                    {"tests/e2e/test_slow.py": slow})
    result = suite(root, "--timeout", "2")
    assert result.returncode == 1
    assert "suite slow: FAILED in 2 s (timed out after 2 s, its process group killed" in result.stdout
    state = Path(f"/proc/{(root / 'child.pid').read_text()}/stat")
    assert not state.exists() or state.read_text().split(") ")[1].startswith("Z")


FAKE_MOLECULE = r"""#!/bin/sh
# molecule test -s <scenario>: what Molecule 26 logs, with colours (proven), without (plain), nothing
# (silent), or a verify whose final destroy shows only in the closing DETAILS list (trap)
s=$3
case $s in
  proven)
    arrow='\342\236\234' cyan='\033[36m' green='\033[32m' off='\033[0m'
    printf "${cyan}INFO    $off $green%s$off $arrow verify: Verifier completed successfully.\n" $s
    printf "INFO     %s $arrow destroy: ${green}Executed: Successful$off\n" $s ;;
  plain)
    echo "INFO     [$s > verify] Verifier completed successfully."
    echo "INFO     [$s > destroy] Executed: Successful" ;;
  trap)
    echo "INFO     [$s > verify] Verifier completed successfully."
    echo "DETAILS"
    echo "$s > destroy: Executed: Successful" ;;
esac
echo "$s                      : actions=9  successful=9  disabled=0  skipped=0  missing=0  failed=0"
"""


def test_a_molecule_scenario_passes_only_when_its_log_shows_verify_and_then_destroy(tmp_path):
    for scenario in ("proven", "plain", "silent", "trap"):
        (tmp_path / "molecule" / scenario).mkdir(parents=True)
        (tmp_path / "molecule" / scenario / "molecule.yml").write_text("---\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "molecule").write_text(FAKE_MOLECULE)
    (tmp_path / "bin" / "molecule").chmod(0o755)
    root = checkout(tmp_path, "GROUPS = []\n", {})
    result = suite(root, "--kind", "molecule", path=str(tmp_path / "bin"))
    recap = "actions=9 successful=9 disabled=0 skipped=0 missing=0 failed=0"
    assert f"suite proven: passed in 0 s ({recap})" in result.stdout
    assert f"suite plain: passed in 0 s ({recap})" in result.stdout
    assert "suite silent: FAILED in 0 s (no 'verify: Verifier completed successfully.' line" in result.stdout
    assert "suite trap: FAILED in 0 s (no 'destroy: Executed: Successful' after verify" in result.stdout
    assert last(result) == "suite: 2 passed, 2 failed"


# Molecule 26.10.0 `molecule test -s fake` with ANSIBLE_FORCE_COLOR=0 (as make runs it), its own lines only.
MOLECULE_26_PLAIN = """\
INFO     [fake > discovery] scenario test matrix: destroy, syntax, converge, verify, destroy
INFO     [fake > destroy] Executing
INFO     [fake > destroy] Executed: Successful
INFO     [fake > converge] Executed: Successful
INFO     [fake > verify] Executing Testinfra tests found in /tmp/moltry/molecule/fake/../../tests/...
INFO     [fake > verify] Verifier completed successfully.
INFO     [fake > verify] Executed: Successful
INFO     [fake > destroy] Executing
INFO     [fake > destroy] Executed: Successful
INFO     Molecule executed 1 scenario (1 successful)
DETAILS
fake > destroy: Executed: Successful
fake > verify: Executed: Successful
fake > destroy: Executed: Successful
SCENARIO RECAP
fake                      : actions=5  successful=4  disabled=0  skipped=0  missing=0  failed=0
"""


def test_a_real_molecule_log_proves_its_pass_and_the_first_destroy_does_not_stand_in_for_the_last():
    lines = runner.plain_lines(MOLECULE_26_PLAIN)
    assert runner.molecule_problems(lines, "fake") == []
    assert runner.molecule_result(lines, "fake") == "actions=5 successful=4 disabled=0 skipped=0 missing=0 failed=0"
    assert runner.molecule_problems(lines, "other") != []
    no_final_destroy = [line for i, line in enumerate(lines) if i != 8]
    assert runner.molecule_problems(no_final_destroy, "fake") == [
        "no 'destroy: Executed: Successful' after verify: the final destroy did not run"]


def test_a_broken_declaration_is_refused_naming_the_group(tmp_path):
    groups = """\
    GROUPS = [
        Group("a", droplet="droplet-1", args=["tests/e2e/test_a.py"], after=After(".lab/x", "ghost")),
        Group("b", droplet="droplet-1", args=[]),
    ]
    """
    result = suite(checkout(tmp_path, groups, {"tests/e2e/test_a.py": PASSING.format(name="a")}))
    assert result.returncode == 2
    assert "group a: after names producer 'ghost', not another group" in result.stderr
    assert "group b: args must list test files or ids" in result.stderr
    assert "droplet droplet-1: used by a, b (one group per droplet)" in result.stderr


@pytest.mark.parametrize(("test_id", "key"), [
    ("tests/e2e/test_a.py::test_x", ("tests.e2e.test_a", "test_x")),
    ("tests/e2e/test_a.py::TestK::test_x[warm-a.b]", ("tests.e2e.test_a.TestK", "test_x[warm-a.b]")),
])
def test_a_test_id_maps_to_its_junit_case_and_back(tmp_path, test_id, key):
    assert runner.junit_key(test_id) == key
    (tmp_path / "tests/e2e").mkdir(parents=True)
    (tmp_path / "tests/e2e/test_a.py").write_text("")
    assert runner.id_of_case(runner.Case(*key, "skipped"), tmp_path, {}) == test_id
    module_skip = runner.Case("", "tests.e2e.test_a", "skipped")
    assert runner.id_of_case(module_skip, tmp_path, {}) == "tests/e2e/test_a.py"


def test_skips_yml_entries_need_a_quoted_id_and_a_reason(tmp_path):
    path = tmp_path / "skips.yml"
    path.write_text('---\n# allowed skips\n"tests/x.py::test_a[a: b]": no IPv6  # lab\n'
                    '"tests/x.py::t": \'it\'\'s slow\'\n')
    assert runner.load_skips(path) == {"tests/x.py::test_a[a: b]": "no IPv6", "tests/x.py::t": "it's slow"}
    path.write_text("tests/x.py::test_a: no quotes\n")
    with pytest.raises(runner.ConfigError, match="expected"):
        runner.load_skips(path)
    path.write_text('"tests/x.py::t": a\n"tests/x.py::t": b\n')
    with pytest.raises(runner.ConfigError, match="listed twice"):
        runner.load_skips(path)


def test_the_real_groups_and_skips_load():
    root = RUNNER.parents[1]
    suite_ = runner.load_suite(root, root / "tests" / "groups.py")
    assert {g.kind for g in suite_.groups} == {"pytest", "molecule"}
    skips = runner.load_skips(root / "tests" / "skips.yml")
    assert all(reason.strip() for reason in skips.values()), skips
