# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations


class ModuleDocFragment:
    # What berth's modules that run on the target host share: POSIX hosts, no diff.
    # Each module still documents its own check_mode support.
    # Modules list it after ansible.builtin.action_common_attributes, which describes these keys.
    DOCUMENTATION = r"""
attributes:
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
