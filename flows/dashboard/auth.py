"""Dashboard access: the users file, password hashing, signed session cookies and CSRF tokens.

The users file is JSON, written only by :func:`add_user` / :func:`remove_user` (mode 0600)::

    {"users": {"ada": {"role": "operator", "password": "scrypt$16384$8$1$<salt b64>$<hash b64>"}}}

Passwords are hashed with scrypt (``hashlib.scrypt``, n=2**14, r=8, p=1, 16-byte random salt) and
compared in constant time. A session is a cookie ``<payload>.<HMAC-SHA256>`` signed with the
server secret; the payload holds the user name, the issue time, a random nonce and a fingerprint of
the user's password hash, so changing a password or removing a user ends their sessions. Signing
out ends the session on the server too: its nonce goes on a revocation list kept beside the users
file (``<users>.revoked``, nonce -> expiry, pruned as sessions expire), so a copied cookie is no
use after sign-out, across restarts and server processes. The role
is read from the users file on every request, never from the cookie. The CSRF token is an HMAC of
the session nonce: a page of the dashboard gets it from ``/api/me`` and sends it back in the
``X-CSRF-Token`` header of every POST.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from restoration.io.atomic import write_json_atomic

ROLES = ("operator", "viewer")
# Roles that may change a reel (approve, flag, reprocess); everyone signed in may look.
ACTING_ROLES = frozenset({"operator"})
SESSION_SECONDS = 12 * 3600
MIN_PASSWORD_LENGTH = 8
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 parts) for ``password``."""
    if not password:
        raise ValueError("empty password")
    salt = salt or secrets.token_bytes(16)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (from :func:`hash_password`); constant time."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(_unb64(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when the user does not exist, so that the answer takes as long."""
    return hash_password("not a password", salt=b"0" * 16)


def load_users(path: Path) -> dict[str, dict]:
    """``{name: {"role": ..., "password": ...}}``; an absent file has no users."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise ValueError(f"{path}: 'users' must be an object")
    return users


def add_user(path: str | Path, name: str, password: str, role: str = "operator") -> None:
    """Add ``name`` to the users file at ``path`` (or replace its password and role).

    The file is created with mode 0600; the password is stored only as a scrypt hash.
    """
    check_account(name, role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    path = Path(path)
    users = load_users(path)
    users[name] = {"role": role, "password": hash_password(password)}
    _write_users(path, users)


def check_account(name: str, role: str) -> None:
    """Raise ``ValueError`` (one line, for the user) when ``name`` or ``role`` cannot be an account."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: choose from {', '.join(ROLES)}")
    if not name or len(name) > 64 or not set(name) <= _NAME_OK:
        raise ValueError(f"invalid user name {name!r}: use letters, digits and . _ - @ (at most 64)")


def remove_user(path: str | Path, name: str) -> bool:
    """Remove ``name``; True if it was there. Its sessions end with it."""
    path = Path(path)
    users = load_users(path)
    if users.pop(name, None) is None:
        return False
    _write_users(path, users)
    return True


def _write_users(path: Path, users: dict) -> None:
    write_json_atomic(path, {"users": users}, mode=0o600)


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    nonce: str
    issued: float

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES


class Authenticator:
    """Checks passwords against the users file and issues / verifies session cookies and CSRF tokens."""

    def __init__(self, users_file: Path, secret: str | None = None, session_seconds: int = SESSION_SECONDS):
        self.users_file = Path(users_file)
        # Without a configured secret, sessions last as long as this process.
        self.secret = (secret or secrets.token_hex(32)).encode()
        self.session_seconds = session_seconds
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.revoked_file = self.users_file.with_name(self.users_file.name + ".revoked")
        self._revoked: dict[str, float] = {}
        self._revoked_mtime: float | None = None

    def _users(self) -> dict[str, dict]:
        return load_users(self.users_file)

    # -- sign-in -----------------------------------------------------------------------------
    def throttled(self, key: str, limit: int = 5, window: float = 300.0) -> bool:
        """True when ``key`` (a user name or client address) failed ``limit`` times in ``window`` s."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(key, []) if now - t < window]
            self._failures[key] = recent
            return len(recent) >= limit

    def record_failure(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, []).append(time.monotonic())

    def check_password(self, name: str, password: str) -> str | None:
        """The user's role when the password is right, else None (same cost either way)."""
        user = self._users().get(name)
        ok = verify_password(password, user["password"] if user else _dummy_hash())
        return user["role"] if (ok and user and user.get("role") in ROLES) else None

    # -- sessions ----------------------------------------------------------------------------
    def issue(self, name: str) -> str:
        """A signed session cookie value for ``name``."""
        user = self._users()[name]
        payload = {"u": name, "iat": int(time.time()), "n": secrets.token_urlsafe(16), "pw": _fingerprint(user)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie value stands for, or None if it is missing, forged, stale or revoked."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, sig = cookie.split(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
            name, issued, nonce, pw = payload["u"], float(payload["iat"]), payload["n"], payload["pw"]
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= time.time() - issued < self.session_seconds:
            return None
        user = self._users().get(name)
        if not user or user.get("role") not in ROLES or not hmac.compare_digest(pw, _fingerprint(user)):
            return None
        try:
            if nonce in self._revoked_nonces():
                return None
        except ValueError:
            return None  # fail closed until the list is repaired
        return Session(user=name, role=user["role"], nonce=nonce, issued=issued)

    def revoke(self, session: Session) -> None:
        """End ``session`` on the server (sign-out): its cookie is refused from now on."""
        with self._lock:
            now = time.time()
            revoked = {n: t for n, t in self._read_revoked().items() if t > now}
            revoked[session.nonce] = session.issued + self.session_seconds
            write_json_atomic(self.revoked_file, {"revoked": revoked}, mode=0o600)
            self._revoked, self._revoked_mtime = revoked, self.revoked_file.stat().st_mtime

    def _revoked_nonces(self) -> dict[str, float]:
        """The revocation list, re-read when another process (or a restart) changed the file."""
        try:
            mtime = self.revoked_file.stat().st_mtime
        except FileNotFoundError:
            return {}
        with self._lock:
            if mtime != self._revoked_mtime:
                self._revoked, self._revoked_mtime = self._read_revoked(), mtime
            return self._revoked

    def _read_revoked(self) -> dict[str, float]:
        try:
            data = json.loads(self.revoked_file.read_text())
            return {str(n): float(t) for n, t in data["revoked"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Fail closed: a damaged list must not let revoked cookies back in.
            raise ValueError(f"{self.revoked_file}: damaged revocation list ({exc}); remove it to sign everyone out") from exc

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self.secret, f"csrf|{session.nonce}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token, self.csrf_token(session))

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.secret, f"session|{body}".encode(), hashlib.sha256).digest())


def _fingerprint(user: dict) -> str:
    return hashlib.sha256(user["password"].encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
