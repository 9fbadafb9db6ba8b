# Copyright: berth developers
# Apache License 2.0
"""One HTTP exchange through ansible-core's open_url, with failures sorted into kinds.

Private to berth.ops. Returns every HTTP answer (4xx and 5xx too) as a Response; raises
TransportError only when no answer came back: ``tls``, ``timeout``, ``refused``, ``unreachable``.
"""

from __future__ import annotations

import socket
import ssl
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ._oci import Response, TransportError


def _kind(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(exc, SSLValidationError) or isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return "refused"
    return "unreachable"


def make_transport(validate_certs: bool = True, ca_path: str | None = None, follow_redirects: bool = True):
    redirects = {"GET": "urllib2"}  # blob GETs redirect to storage; HEAD and others only to safe methods

    def transport(method: str, url: str, headers: dict, timeout: float) -> Response:
        try:
            answer = open_url(url, method=method, headers=headers, timeout=timeout,
                              validate_certs=validate_certs, ca_path=ca_path,
                              follow_redirects=redirects.get(method, "safe") if follow_redirects else "none")
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                            b"" if method == "HEAD" else answer.read())
        except HTTPError as exc:
            return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()},
                            exc.read() if method != "HEAD" else b"")
        except (URLError, SSLValidationError, UrlsConnectionError, OSError, ssl.SSLError) as exc:
            raise TransportError(_kind(exc), str(getattr(exc, "reason", exc))) from exc

    return transport
