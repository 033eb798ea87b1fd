"""Who may use the chat: a password, or none, depending on the address it is served on.

Kept apart from :mod:`assistant.ui` so that ``app.py`` and ``assistant serve`` can refuse an
unsafe address at once, before Gradio, the index and the model are loaded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from assistant.config import Settings
from assistant.errors import ConfigError


class ExposedWithoutAuthError(ConfigError):
    """Serving on an address other machines reach, with neither a password nor --no-auth."""


@dataclass(frozen=True)
class Access:
    """Who may use the chat: ``auth`` is Gradio's ``(user, password)``; ``warning`` is to be
    printed when the chat is reachable from other machines."""

    auth: tuple[str, str] | None = field(repr=False)  # holds the password
    warning: str | None


def serving_access(settings: Settings, *, no_auth: bool = False) -> Access:
    """Decide who may use the chat served on ``settings.host``.

    On loopback only this machine can connect: no password unless ``ASSISTANT_AUTH`` sets
    one. Any other address (``0.0.0.0``, a LAN address, a host name) lets anyone on the
    network read the documents and add to them, so it needs ``ASSISTANT_AUTH`` or an
    explicit ``no_auth``, and says so either way.

    Raises:
        ExposedWithoutAuthError: another address, no ``ASSISTANT_AUTH`` and no ``no_auth``.
        ConfigError: ``ASSISTANT_AUTH`` is not ``user:password``.
    """
    auth = _parse_auth(settings.auth.get_secret_value()) if settings.auth else None
    where = f"{settings.host}:{settings.port}"
    if _is_loopback(settings.host):
        return Access(auth, None)
    if auth is not None:
        return Access(
            auth,
            f"warning: serving on {where}, reachable from other machines; "
            f"they must sign in as {auth[0]!r} (ASSISTANT_AUTH). Traffic is not encrypted.",
        )
    if no_auth:
        return Access(
            None,
            f"warning: serving on {where} with no sign-in (--no-auth): anyone who can reach "
            "this port can read the indexed documents and add to them.",
        )
    raise ExposedWithoutAuthError(
        f"Refusing to serve on {where} without a password: other machines could read the "
        "indexed documents and add to them. Set ASSISTANT_AUTH=user:password, or pass "
        "--no-auth if the network is trusted, or serve on 127.0.0.1."
    )


def _parse_auth(value: str) -> tuple[str, str]:
    user, colon, password = value.partition(":")
    if not (user.strip() and colon and password):
        # The value itself is not repeated: it may be a password with a typo.
        raise ConfigError("ASSISTANT_AUTH must be user:password (a name, a colon, a password).")
    return user.strip(), password


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name may resolve to any address
        return False
