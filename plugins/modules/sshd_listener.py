#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: sshd_listener
short_description: Find which process listens for sshd, and stop listeners its unit left behind
version_added: 0.3.0
description:
  - Reads which processes hold a listening TCP socket on O(ports) (from C(/proc), like C(ss -ltnp)),
    the main process of the systemd O(service), when it started, and when the sshd configuration
    last changed.
  - A listener is a B(stray) when it is an C(sshd) in O(service)'s cgroup but not the unit's main
    process, for example the sshd that C(ssh.socket) started and that survives the unit's stop
    because of C(KillMode=process). Anything else that listens (other than systemd itself, which
    holds a socket unit's socket) is B(foreign) and never touched.
  - With O(terminate_strays=true) every stray gets C(SIGTERM), then C(SIGKILL) after O(timeout)
    seconds; the module fails when one survives. Established SSH sessions never hold the listening
    socket, so they are never strays.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reports the strays it would stop, stops none.
  idempotent:
    support: full
    details: A second run finds no stray listener to stop.
options:
  ports:
    description: TCP ports sshd listens on, or listened on before a change.
    type: list
    elements: int
    required: true
  service:
    description: The systemd service that runs sshd.
    type: str
    default: ssh.service
  config_files:
    description: Files sshd reads its configuration from; the newest mtime is returned as RV(config_mtime).
    type: list
    elements: path
    default: []
  terminate_strays:
    description: Stop every stray listener.
    type: bool
    default: false
  timeout:
    description: Seconds a stray gets to exit after C(SIGTERM) before C(SIGKILL).
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Stop the sshd that ssh.socket started and that outlived its unit
  berth.ops.sshd_listener:
    ports: [22]
    terminate_strays: true

- name: Read who serves port 22 now
  berth.ops.sshd_listener:
    ports: [22]
    config_files: [/etc/ssh/sshd_config]
  register: sshd

- name: Check that the unit's main process alone listens, started after the config changed
  ansible.builtin.assert:
    that:
      - sshd.listeners | map(attribute='pid') | list == [sshd.main_pid]
      - sshd.main_started >= sshd.config_mtime
"""

RETURN = r"""
listeners:
  description: Every process listening on O(ports) when the module finished.
  returned: always
  type: list
  elements: dict
  sample: [{pid: 2188, ppid: 1, comm: sshd, exe: /usr/sbin/sshd, ports: [22],
            cmdline: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-60 startups", cgroup: "0::/system.slice/ssh.service"}]
main_pid:
  description: The service's main process (0 when it does not run).
  returned: always
  type: int
main_started:
  description: When the main process started, seconds since the epoch (null when it does not run).
  returned: always
  type: float
config_mtime:
  description: Newest modification time of O(config_files), seconds since the epoch (null without files).
  returned: always
  type: float
strays:
  description: Stray listeners found (see the description); with O(terminate_strays) they are gone.
  returned: always
  type: list
  elements: dict
foreign:
  description: Listeners that are neither systemd, the main process nor a stray.
  returned: always
  type: list
  elements: dict
terminated:
  description: PIDs stopped (or, in check mode, that would be).
  returned: always
  type: list
  elements: int
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _listeners


def argument_spec() -> dict:
    return {
        "ports": {"type": "list", "elements": "int", "required": True},
        "service": {"type": "str", "default": "ssh.service"},
        "config_files": {"type": "list", "elements": "path", "default": []},
        "terminate_strays": {"type": "bool", "default": False},
        "timeout": {"type": "float", "default": 10},
    }


def main_process(module: AnsibleModule, service: str) -> tuple[int, float | None]:
    rc, out, err = module.run_command(["systemctl", "show", service, "-p", "MainPID",
                                       "-p", "ExecMainStartTimestampMonotonic"])
    if rc != 0:
        module.fail_json(msg=f"service: cannot read {service}: {err.strip()}")
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    pid, started = int(props.get("MainPID") or 0), int(props.get("ExecMainStartTimestampMonotonic") or 0)
    if not pid or not started:
        return pid, None
    # systemd stamps CLOCK_MONOTONIC, as time.monotonic() reads it: exact, unlike /proc/PID/stat.
    return pid, time.time() - (time.monotonic() - started / 1e6)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(pids: list[int], timeout: float) -> list[int]:
    """SIGTERM, wait, SIGKILL; returns the pids still alive."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while any(map(alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [pid for pid in pids if alive(pid)]
        if not pids:
            break
    return pids


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    bad = [port for port in p["ports"] if not 0 < port < 65536]
    if bad or not p["ports"]:
        module.fail_json(msg=f"ports: need TCP ports 1-65535, got {p['ports']}")
    ports = set(p["ports"])
    main_pid, _ = main_process(module, p["service"])
    strays, foreign = _listeners.classify(_listeners.listeners(ports), main_pid, p["service"])
    terminated = [item["pid"] for item in strays]
    if terminated and p["terminate_strays"] and not module.check_mode:
        survivors = stop(terminated, p["timeout"])
        if survivors:
            module.fail_json(msg=f"sshd listeners {survivors} on ports {sorted(ports)} survived SIGKILL", strays=strays)
    elif not p["terminate_strays"]:
        terminated = []
    main_pid, main_started = main_process(module, p["service"])
    mtimes = [os.stat(path).st_mtime for path in p["config_files"] if os.path.exists(path)]
    module.exit_json(changed=bool(terminated), listeners=_listeners.listeners(ports), main_pid=main_pid,
                     main_started=main_started, config_mtime=max(mtimes) if mtimes else None,
                     strays=strays, foreign=foreign, terminated=terminated)


if __name__ == "__main__":
    main()
