"""What a person reads: berth.ops.steps (ansible.cfg's stdout callback) at each verbosity, on localhost.

Quiet: one line per task that changed something, a failure as Ansible shows it, debug messages, the
recap; nothing for tasks that were ok or skipped. -v: every task. A no_log value at no verbosity.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-value-never-shown"
PLAY = f"""
- name: Show what berth.ops.steps prints
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
    secret_env: {{APP_SECRET: {SECRET}}}
  tasks:
    - name: Read the state
      ansible.builtin.command: "true"
      changed_when: false
    - name: Write the release
      ansible.builtin.command: "true"
    - name: Pull the images
      ansible.builtin.command: "echo {{{{ item }}}}"
      loop: [web, worker]
    - name: Include the steps
      ansible.builtin.include_tasks: "{{{{ out }}}}/steps.yml"
    - name: Skip the hooks
      ansible.builtin.command: "true"
      when: false
    - name: Write the env file
      ansible.builtin.copy:
        content: "APP_SECRET={{{{ secret_env.APP_SECRET }}}}\\n"
        dest: "{{{{ out }}}}/web.env"
        mode: "0600"
      no_log: true
    - name: Show what went live
      ansible.builtin.debug:
        msg: "summary: web on green"
    - name: Gate the release
      ansible.builtin.command: "false"
      ignore_errors: true
"""


VERBOSITIES = {"quiet": (), "-v": ("-v",), "-vvv": ("-vvv",), "-vvvv --diff": ("-vvvv", "--diff")}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    """The play's output at each verbosity (each run costs an ansible-playbook start: once each)."""
    tmp = tmp_path_factory.mktemp("output")
    playbook = tmp / "play.yml"
    playbook.write_text(PLAY)
    (tmp / "steps.yml").write_text("- name: Switch the routes\n  ansible.builtin.command: 'true'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    found = {}
    for label, args in VERBOSITIES.items():
        done = subprocess.run([ROOT / ".venv" / "bin" / "ansible-playbook", "-i", "localhost,", str(playbook),
                               "-e", f"out={tmp}", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        (tmp / "web.env").unlink()
        found[label] = done.stdout + done.stderr
    return found


def test_quiet_shows_one_line_per_change_the_failure_and_the_messages(outputs):
    out = outputs["quiet"]
    assert re.findall(r"^changed: .*$", out, flags=re.M) == [
        "changed: [localhost] Write the release",
        "changed: [localhost] Pull the images (item=web)",
        "changed: [localhost] Pull the images (item=worker)",
        "changed: [localhost] Switch the routes",
        "changed: [localhost] Write the env file",
    ]
    assert re.findall(r"^TASK \[(.*)\]", out, flags=re.M) == ["Show what went live", "Gate the release"]
    assert "summary: web on green" in out
    assert "fatal: [localhost]: FAILED!" in out and "...ignoring" in out
    assert "Read the state" not in out and "Skip the hooks" not in out and "included:" not in out
    assert re.search(r"localhost\s+: ok=8\s+changed=5 .* skipped=1 .* ignored=1", out)


@pytest.mark.parametrize("verbosity", ["-v", "-vvv"])
def test_verbose_shows_every_task(outputs, verbosity):
    out = outputs[verbosity]
    assert re.findall(r"^TASK \[(.*)\]", out, flags=re.M) == [
        "Read the state", "Write the release", "Pull the images", "Include the steps", "Switch the routes",
        "Skip the hooks", "Write the env file",
        "Show what went live", "Gate the release"]
    assert "ok: [localhost]" in out and "skipping: [localhost]" in out


@pytest.mark.parametrize("verbosity", list(VERBOSITIES))
def test_a_no_log_value_is_never_shown(outputs, verbosity):
    out = outputs[verbosity]
    assert SECRET not in out
    assert "censored" in out or verbosity == "quiet"
