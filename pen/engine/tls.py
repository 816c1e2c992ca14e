"""TLS termination towards clients (-E -K -G -A -R -L -Z, ssl_* commands; pen(1) -E).

Modern defaults: TLS 1.2 and later, the library's default cipher list unless `ssl_ciphers` is
set, server cipher preference on request.  `ssl_sni_path DIR` serves `DIR/<name>.crt` and
`DIR/<name>.key` (and `<name>.ca`) to clients that ask for <name>, loaded on first use and
cached until the next reload.  `build_context` is called at start-up and again on SIGHUP, so
renewed certificates are picked up without a restart.  Handshakes run inside the non-blocking
data path (conn.py): they never block the loop.
"""
from __future__ import annotations

import logging
import os
import re
import ssl

from pen.settings import Settings

log = logging.getLogger("pen")

_OPTIONS = {
    "no_sslv2": 0, "no_sslv3": 0,                     # never available in modern OpenSSL
    "no_tlsv1": ssl.OP_NO_TLSv1, "no_tlsv1.1": ssl.OP_NO_TLSv1_1,
    "no_tlsv1.2": ssl.OP_NO_TLSv1_2,
    "cipher_server_preference": ssl.OP_CIPHER_SERVER_PREFERENCE,
}
_SNI_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


class TlsError(Exception):
    """A certificate, key or option that cannot be used; the message says which."""


def known_option(name: str) -> bool:
    return name in _OPTIONS


def build_context(s: Settings) -> ssl.SSLContext | None:
    """The server context for the current settings, or None without -E."""
    if not s.ssl_cert:
        return None
    ctx = _base_context(s)
    try:
        ctx.load_cert_chain(s.ssl_cert, s.ssl_key or s.ssl_cert)
    except (OSError, ssl.SSLError) as e:
        raise TlsError(f"TLS certificate {s.ssl_cert} / key {s.ssl_key or s.ssl_cert}: {e}") from None
    if s.ssl_sni_path:
        ctx.sni_callback = _SniCache(s).callback
    if s.ssl_ocsp_response:
        log.warning("ssl_ocsp_response %s: OCSP stapling is not available in pen-ha (Python's "
                    "ssl module has no server-side stapling); the file is not sent",
                    s.ssl_ocsp_response)
    return ctx


def _base_context(s: Settings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Client-initiated renegotiation is refused outright (C pen rate-limited it with
    # ssl_client_renegotiation_interval, which is accepted and has nothing left to limit).
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    for name in s.ssl_options:
        ctx.options |= _OPTIONS.get(name, 0)
    if s.ssl_ciphers:
        try:
            ctx.set_ciphers(s.ssl_ciphers)
        except ssl.SSLError:
            raise TlsError(f"ssl_ciphers: no usable cipher in '{s.ssl_ciphers}'") from None
    if s.ssl_ca_file or s.ssl_ca_dir:
        try:
            ctx.load_verify_locations(cafile=s.ssl_ca_file, capath=s.ssl_ca_dir)
        except (OSError, ssl.SSLError) as e:
            raise TlsError(f"TLS CA {s.ssl_ca_file or s.ssl_ca_dir}: {e}") from None
    if s.ssl_require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def backend_context(s: Settings) -> ssl.SSLContext:
    """The client-side context for TLS to servers: TLS 1.2+, certificates verified against
    `backend_tls_ca` (or the system's CAs) and the server's name, unless explicitly disabled."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if s.backend_tls_noverify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif s.backend_tls_ca:
        try:
            ctx.load_verify_locations(cafile=s.backend_tls_ca)
        except (OSError, ssl.SSLError) as e:
            raise TlsError(f"backend_tls_ca {s.backend_tls_ca}: {e}") from None
    else:
        ctx.load_default_certs()
    return ctx


class _SniCache:
    """Per-name contexts from the SNI directory, loaded lazily; unknown names get the default."""

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.contexts: dict[str, ssl.SSLContext | None] = {}

    def callback(self, sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        if not name or not _SNI_NAME.match(name) or ".." in name:
            return None
        name = name.lower()
        if name not in self.contexts:
            self.contexts[name] = self._load(name)
        chosen = self.contexts[name]
        if chosen is not None:
            sock.context = chosen
        return None

    def _load(self, name: str) -> ssl.SSLContext | None:
        directory = self.settings.ssl_sni_path
        if directory is None:                 # the callback is installed only with a path
            return None
        base = os.path.join(directory, name)
        if not os.path.exists(base + ".crt"):
            return None
        ctx = _base_context(self.settings)
        try:
            ctx.load_cert_chain(base + ".crt", base + ".key")
            if os.path.exists(base + ".ca"):
                ctx.load_verify_locations(cafile=base + ".ca")
        except (OSError, ssl.SSLError, TlsError) as e:
            log.warning("SNI %s: %s; using the default certificate", name, e)
            return None
        return ctx
