#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_log
short_description: Record a release attempt on a host, and read the host's releases
version_added: 0.2.0
description:
  - Each deploy, rollback or switch attempt is one JSON file in O(path) (named by its id) and one
    line appended to O(path)/audit.log, which is never rewritten.
  - Without O(record) the module only reads. It always returns the releases (newest first), the
    live one (the newest that succeeded) and the previous good one (the newest success before it
    that is another release - another release checksum; for App Platform's records, which have none,
    another spec), which is where C(rollback.yml) goes.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reading is the same in check mode; a record is reported, not written.
  idempotent:
    support: partial
    details: Reading changes nothing; each record given is written, and appended to the audit log, once per call.
options:
  path:
    description: The releases directory, for example C(/opt/myapp/releases).
    type: path
    required: true
  record:
    description:
      - The attempt to record. Keys C(id) and C(status) (V(succeeded) or V(failed)) are required;
        C(time) defaults to now (UTC). Other keys (kind, colour, digests, git_sha, operator, step,
        message, source) are kept as given.
    type: dict
  limit:
    description: How many releases to return.
    type: int
    default: 20
"""

EXAMPLES = r"""
- name: Record the release that went live
  berth.ops.release_log:
    path: /opt/myapp/releases
    record:
      id: "{{ release_id }}"
      status: succeeded
      kind: deploy
      colour: green
      digests: {web: "ghcr.io/acme/web@sha256:0123..."}
      operator: alice

- name: Read the releases
  berth.ops.release_log:
    path: /opt/myapp/releases
  register: releases
"""

RETURN = r"""
releases:
  description: Recorded attempts, newest first, at most O(limit).
  returned: always
  type: list
  elements: dict
live:
  description: The newest succeeded release, or null.
  returned: always
  type: dict
previous:
  description: The newest succeeded release before the live one that is another release (see above), or null.
  returned: always
  type: dict
recorded:
  description: The record as written (with its time), or null.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _records


def argument_spec() -> dict:
    return {
        "path": {"type": "path", "required": True},
        "record": {"type": "dict"},
        "limit": {"type": "int", "default": 20},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
    )
    p = module.params
    recorded = None
    if p["record"] is not None:
        record = p["record"]
        if not _records.ID_PATTERN.match(str(record.get("id", ""))) or \
                record.get("status") not in ("succeeded", "failed"):
            module.fail_json(msg="record: needs id (letters, digits, '.', '_', '-') and status succeeded|failed, "
                                 f"got id={record.get('id')!r} status={record.get('status')!r}")
        if not module.check_mode:
            try:
                recorded = _records.write(p["path"], record)
            except OSError as exc:
                module.fail_json(msg=f"path: cannot write the release record in {p['path']}: {exc}")
        else:
            recorded = record
    records = _records.load(p["path"])
    if module.check_mode and recorded is not None:
        records = [recorded, *records]
    module.exit_json(changed=recorded is not None, releases=records[:p["limit"]],
                     live=_records.live(records), previous=_records.previous_good(records),
                     recorded=recorded)


if __name__ == "__main__":
    main()
