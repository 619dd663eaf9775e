"""The fal stand-in's TLS: a test CA made by trustme, a certificate for 127.0.0.1 and localhost,
and the CA written to a file that clients trust through SSL_CERT_FILE (httpx, and so
fal-client, honour it). trustme is a test extra, imported only here: `imagebot demo` never
starts the fal stand-in, so a plain `pip install .` runs it."""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile


def loopback_tls() -> tuple[ssl.SSLContext, str]:
    """A server context for the stand-in, and the path of the CA file that trusts it."""
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    fd, path = tempfile.mkstemp(prefix="fal-standin-ca-", suffix=".pem")
    os.close(fd)
    ca.cert_pem.write_to_path(path)
    return context, path


def forget_ca(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
