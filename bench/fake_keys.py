"""Real private keys and signed JWTs for the secrets bench, in pure Python (the venv has no `cryptography`).

RSA (2048-bit, PKCS#1 and PKCS#8), P-256 (SEC 1), Ed25519 (RFC 8032, in OpenSSH's `openssh-key-v1` file) and
PuTTY `.ppk` v2 keys, and HS256/RS256 JWTs: the bodies are what a user would paste, so a scanner that only looks
at the `BEGIN` line and one that reads the body are both measured. Checked once against `cryptography` and
`ssh-keygen -y` (both load the keys; the RS256 signature verifies). Deterministic for a given `random.Random`.
Never use these keys for anything but tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(20):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (candidate - 1) % 65537 and _probable_prime(candidate, rng):
            return candidate


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int
    p: int
    q: int

    @classmethod
    def generate(cls, rng: random.Random, bits: int = 2048) -> RsaKey:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        e = 65537
        return cls(p * q, e, pow(e, -1, (p - 1) * (q - 1)), p, q)


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = (
        bytes([size])
        if size < 0x80
        else bytes([0x80 | (size.bit_length() + 7) // 8]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(x) for x in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def pem(label: str, der: bytes, width: int = 64) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + width] for i in range(0, len(b64), width)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


_RSA_OID = _oid("1.2.840.113549.1.1.1") + b"\x05\x00"


def rsa_pkcs1(key: RsaKey) -> bytes:
    parts = (0, key.n, key.e, key.d, key.p, key.q, key.d % (key.p - 1), key.d % (key.q - 1), pow(key.q, -1, key.p))
    return _seq(*(_int(v) for v in parts))


def rsa_pkcs8(key: RsaKey) -> bytes:
    return _seq(_int(0), _seq(_RSA_OID), _der(0x04, rsa_pkcs1(key)))


def rsa_public_spki(key: RsaKey) -> bytes:
    return _seq(_seq(_RSA_OID), _der(0x03, b"\x00" + _seq(_int(key.n), _int(key.e))))


_P256 = (
    2**256 - 2**224 + 2**192 + 2**96 - 1,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)


def _ec_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    p = _P256[0]
    if a is None or b is None:
        return a or b
    if a[0] == b[0] and (a[1] + b[1]) % p == 0:
        return None
    tangent = a == b  # doubling: the tangent's slope; adding: the chord's
    slope = ((3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, p) if tangent else (b[1] - a[1]) * pow(b[0] - a[0], -1, p)) % p
    x = (slope * slope - a[0] - b[0]) % p
    return x, (slope * (a[0] - x) - a[1]) % p


def ec_sec1(rng: random.Random) -> bytes:
    secret = rng.randrange(1, _P256[3])
    point: tuple[int, int] | None = None
    addend: tuple[int, int] | None = (_P256[1], _P256[2])
    k = secret
    while k:
        if k & 1:
            point = _ec_add(point, addend)
        addend, k = _ec_add(addend, addend), k >> 1
    assert point is not None
    public = b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")
    return _seq(
        _int(1),
        _der(0x04, secret.to_bytes(32, "big")),
        _der(0xA0, _oid("1.2.840.10045.3.1.7")),
        _der(0xA1, _der(0x03, b"\x00" + public)),
    )


_ED_Q = 2**255 - 19
_ED_D = -121665 * pow(121666, -1, _ED_Q) % _ED_Q


def _ed_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    q, t = _ED_Q, _ED_D * a[0] * b[0] * a[1] * b[1]
    x = (a[0] * b[1] + b[0] * a[1]) * pow(1 + t, -1, q)
    y = (a[1] * b[1] + a[0] * b[0]) * pow(1 - t, -1, q)
    return x % q, y % q


def ed25519_public(seed: bytes) -> bytes:
    """RFC 8032 key generation: the public key of a 32-byte private seed."""
    q = _ED_Q
    by = 4 * pow(5, -1, q) % q
    xx = (by * by - 1) * pow(_ED_D * by * by + 1, -1, q)
    bx = pow(xx, (q + 3) // 8, q)
    if (bx * bx - xx) % q:
        bx = bx * pow(2, (q - 1) // 4, q) % q
    if bx % 2:
        bx = q - bx
    h = hashlib.sha512(seed).digest()
    scalar = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    point, addend = (0, 1), (bx, by)
    while scalar:
        if scalar & 1:
            point = _ed_add(point, addend)
        addend, scalar = _ed_add(addend, addend), scalar >> 1
    return (point[1] | ((point[0] & 1) << 255)).to_bytes(32, "little")


def _ssh(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    return _ssh(value.to_bytes(value.bit_length() // 8 + 1, "big"))


def openssh_ed25519(rng: random.Random, comment: str) -> tuple[str, str]:
    """An `ssh-keygen -t ed25519` private key file, and its public key line."""
    seed = rng.randbytes(32)
    public = ed25519_public(seed)
    blob = _ssh(b"ssh-ed25519") + _ssh(public)
    check = rng.randbytes(4)
    private = check + check + blob + _ssh(seed + public) + _ssh(comment.encode())
    private += bytes(range(1, 1 + (-len(private)) % 8))
    body = b"openssh-key-v1\0" + _ssh(b"none") + _ssh(b"none") + _ssh(b"") + (1).to_bytes(4, "big")
    body += _ssh(blob) + _ssh(private)
    public_line = f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"
    return pem("OPENSSH PRIVATE KEY", body, width=70), public_line


def putty_v2(key: RsaKey, comment: str) -> str:
    """A PuTTYgen `.ppk` (version 2, unencrypted) RSA key with its MAC."""
    public = _ssh(b"ssh-rsa") + _mpint(key.e) + _mpint(key.n)
    private = _mpint(key.d) + _mpint(key.p) + _mpint(key.q) + _mpint(pow(key.q, -1, key.p))
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()
    mac_data = _ssh(b"ssh-rsa") + _ssh(b"none") + _ssh(comment.encode()) + _ssh(public) + _ssh(private)
    mac = hmac.new(mac_key, mac_data, hashlib.sha1).hexdigest()

    def lines(data: bytes) -> list[str]:
        b64 = base64.b64encode(data).decode()
        return [b64[i : i + 64] for i in range(0, len(b64), 64)]

    pub, priv = lines(public), lines(private)
    head = f"PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: {comment}\nPublic-Lines: {len(pub)}\n"
    return head + "\n".join(pub) + f"\nPrivate-Lines: {len(priv)}\n" + "\n".join(priv) + f"\nPrivate-MAC: {mac}"


def private_key(kind: str, rng: random.Random, rsa: Callable[[], RsaKey]) -> str:
    if kind == "rsa_pkcs1":
        return pem("RSA PRIVATE KEY", rsa_pkcs1(rsa()))
    if kind == "rsa_pkcs8":
        return pem("PRIVATE KEY", rsa_pkcs8(rsa()))
    if kind == "ec_sec1":
        return pem("EC PRIVATE KEY", ec_sec1(rng))
    if kind == "openssh_ed25519":
        return openssh_ed25519(rng, "deploy@ci-runner-3")[0]
    return putty_v2(rsa(), "rsa-key-20260114")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(alg: str, rng: random.Random, rsa: Callable[[], RsaKey]) -> str:
    """A signed JWT (HS256 with a random key, or RS256 with PKCS#1 v1.5 over SHA-256)."""
    now = 1767225600 + rng.randrange(10**7)
    claims = {"sub": str(rng.randrange(10**6, 10**7)), "scope": "orders:read orders:write", "iat": now,
              "exp": now + 3600, "iss": "https://auth.example.com/"}  # fmt: skip
    signing_input = f"{_b64url(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{_b64url(json.dumps(claims).encode())}"
    if alg == "HS256":
        signature = hmac.new(rng.randbytes(32), signing_input.encode(), hashlib.sha256).digest()
    else:
        key = rsa()
        digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
        t = digest_info + hashlib.sha256(signing_input.encode()).digest()
        size = (key.n.bit_length() + 7) // 8
        em = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
        signature = pow(int.from_bytes(em, "big"), key.d, key.n).to_bytes(size, "big")
    return f"{signing_input}.{_b64url(signature)}"
