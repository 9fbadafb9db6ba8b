#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: external_check
short_description: Check from the host that the external services of a release answer
version_added: 0.3.0
description:
  - The pre-flight of C(berth_external) - before a deploy or rollback changes anything, each host opens a TCP
    connection to every external service the release uses (managed PostgreSQL, Redis...) and, when its URL asks
    for TLS, completes a TLS handshake (V(tls) from the first byte, V(postgres) after PostgreSQL's SSLRequest).
  - It gets only names, hosts and ports (the spec of M(berth.ops.release_spec)), never a URL or a password, and
    fails naming every service it could not reach, with its host and port.
  - The handshake does not verify the certificate (the app does, with the settings its URL gives); it proves
    that something speaking TLS answers there.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: It only connects; the same in check mode.
  idempotent:
    support: full
options:
  external:
    description:
      - Name to C({scheme, host, port, tls, timeout}) (the C(external) of a release spec); other keys are ignored.
      - C(tls) is V(none), V(tls) or V(postgres); C(timeout) the seconds each service may take (default 5).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check from this host that the external services answer
  berth.ops.external_check:
    external: "{{ release_plan.spec.external }}"
"""

RETURN = r"""
checked:
  description: One entry per service reached, with the seconds it took.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "db", "host": "db.example.com", "port": 25060, "tls": "postgres", "seconds": 0.031}]
failures:
  description: One line per service not reached.
  returned: failure
  type: list
  elements: str
"""

import socket
import ssl
import struct
import time

from ansible.module_utils.basic import AnsibleModule

# PostgreSQL's SSLRequest: length 8, then the code 1234 5679 (protocol 3, "Frontend/Backend Protocol").
SSL_REQUEST = struct.pack("!II", 8, 80877103)


def reach(host: str, port: int, tls: str, timeout: float) -> None:
    """Connect (and shake hands when `tls` says so); raise OSError with what went wrong."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        if tls == "none":
            return
        if tls == "postgres":
            conn.sendall(SSL_REQUEST)
            answer = conn.recv(1)
            if answer != b"S":
                raise OSError(f"PostgreSQL answered {answer!r} to SSLRequest: it does not offer TLS, "
                              "though the URL's sslmode requires it")
        context = ssl.create_default_context()
        # A pre-flight proves TLS answers; certificate checks are the app's, with its own settings.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(conn, server_hostname=host) as secure:
            secure.do_handshake()


def argument_spec() -> dict:
    return {"external": {"type": "dict", "required": True}}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    checked, failures = [], []
    for name, entry in sorted(module.params["external"].items()):
        host, port, tls = entry.get("host"), int(entry.get("port") or 0), entry.get("tls", "none")
        where = f"{name} ({entry.get('scheme', 'tcp')} at {host}:{port}{', TLS' if tls != 'none' else ''})"
        started = time.monotonic()
        try:
            reach(host, port, tls, float(entry.get("timeout") or 5))
        except (OSError, ssl.SSLError, ValueError) as exc:
            failures.append(f"{where}: {exc or type(exc).__name__}")
            continue
        checked.append({"name": name, "host": host, "port": port, "tls": tls,
                        "seconds": round(time.monotonic() - started, 3)})
    if failures:
        module.fail_json(msg=f"external service{'s' if len(failures) > 1 else ''} not reachable from this host, "
                             f"nothing was changed: {'; '.join(failures)}", failures=failures, checked=checked)
    module.exit_json(changed=False, checked=checked)


if __name__ == "__main__":
    main()
