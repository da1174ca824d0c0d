"""API tokens: ``ncr_<token_id>_<secret>``. The id is public and finds the row; the secret is
stored only as its SHA-256, compared in constant time.

One SHA-256 is the right hash here: the secret is 256 random bits, not a password, so a
brute-force search is hopeless however fast the hash is, and a memory-hard KDF would only cost
every request tens of milliseconds of CPU. Rows written by the first release hold a salted scrypt
hash; they still verify (slowly) until the token is rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")  # each includes the ones before it
RANK = {r: i for i, r in enumerate(ROLES)}
_N, _R, _P = 2**14, 8, 1
_TOKEN = re.compile(r"^ncr_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: str

    def allows(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_secret(secret: str) -> str:
    return f"sha256${hashlib.sha256(secret.encode()).hexdigest()}"


def legacy_scrypt_hash(secret: str, salt: bytes | None = None) -> str:
    """The first release's format, kept so tests can check old rows still verify."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    algo, _, rest = stored.partition("$")
    if algo == "sha256":
        return hmac.compare_digest(hash_secret(secret), stored)
    if algo != "scrypt":
        return False
    try:
        n, r, p, salt, digest = rest.split("$")
        got = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


def new_token() -> tuple[str, str, str]:
    """(token_id, secret, full token). Show the full token once; store only the hash."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"ncr_{token_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    m = _TOKEN.match(token)
    return (m.group(1), m.group(2)) if m else None
