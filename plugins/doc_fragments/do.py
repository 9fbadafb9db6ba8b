# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations


class ModuleDocFragment:
    # The connection options every berth.ops.do_* module shares (module_utils/_do_module.py
    # base_module_arguments). Set them once for all of them with module_defaults group/berth.ops.do.
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - DigitalOcean API token (read/write personal access token).
      - When not given, the first set of the environment variables C(DIGITALOCEAN_TOKEN),
        C(DO_API_TOKEN), C(DO_API_KEY), C(OAUTH_TOKEN).
      - Never printed; a 401 names where it came from.
    type: str
    aliases: [oauth_token]
  api_base_url:
    description:
      - Base URL of the API (a test emulator in berth's own tests).
      - Falls back to the environment variable C(DIGITALOCEAN_API_URL).
    type: str
    default: https://api.digitalocean.com
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust in addition to the system's.
    type: path
  api_timeout:
    description: Seconds for each HTTP request.
    type: float
    default: 30.0
  api_retries:
    description: Retries of one request after 429, 500, 502, 503, 504 or no answer.
    type: int
    default: 5
  api_deadline:
    description: Seconds for all API work of one task, retries and polling included.
    type: float
    default: 900.0
  poll_interval:
    description: Seconds between polls of an action or a resource that is being created.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    details: Reads the current state and reports the writes it would send, without sending them.
  diff_mode:
    support: full
    details: The diff holds the fields that differ, before and after.
  platform:
    platforms: all
notes:
  - Needs only ansible-core on the machine it runs on (it uses ansible-core's own HTTP helpers).
  - Requests that fail with 429 or 5xx are retried, honouring C(Retry-After), within I(api_deadline).
  - C(changed) is true only when a write (POST, PUT, PATCH, DELETE) was sent or, in check mode, would be.
"""
