"""Python side of the `crypto` module (`cryptography` for ciphers and RSA, the standard
library for the rest). Ciphertexts are nonce || ciphertext || tag (12-byte nonces)."""
from __future__ import annotations

import base64
import hashlib
import hmac as _hmac
import json
import os
import secrets
import string
import time
import uuid

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..engine.errors import WippyError, INVALID, INTERNAL
from . import offload
from .binary import fresh, take, view

_ALNUM = string.ascii_letters + string.digits
_NONCE = 12
_TAG = 16      # AES-GCM and ChaCha20-Poly1305 both
_IN_PLACE = 32 * 1024   # ciphertexts from this size are written in place (binary.fresh)
_HMAC_ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _invalid(msg: str) -> WippyError:
    return WippyError(INVALID, msg, False)


def random_string(n: int, charset: str | None) -> str:
    chars = charset or _ALNUM
    return "".join(secrets.choice(chars) for _ in range(n))


def _cipher(name: str, key: bytes):
    if name == "aes":
        if len(key) not in (16, 24, 32):
            raise _invalid(f"invalid key size {len(key)}: AES keys are 16, 24 or 32 bytes")
        return AESGCM(key)
    if len(key) != 32:
        raise _invalid(f"invalid key size {len(key)}: ChaCha20-Poly1305 keys are 32 bytes")
    return ChaCha20Poly1305(key)


def encrypt(name, dref, dn, kref, kn, aref=None, an=0) -> bytes:
    c = _cipher(name, take(kref, kn))
    nonce = os.urandom(_NONCE)
    data, aad = view(dref, dn), take(aref, an) if aref is not None else None
    if dn < _IN_PLACE:
        return nonce + c.encrypt(nonce, data, aad)
    # written in place: `nonce + c.encrypt(...)` copies the whole ciphertext once more
    out, buf = fresh(_NONCE + dn + _TAG)
    with buf:
        buf[:_NONCE] = nonce
        c.encrypt_into(nonce, data, aad, buf[_NONCE:])
    return out


def decrypt(name, dref, dn, kref, kn, aref=None, an=0) -> bytes:
    c = _cipher(name, take(kref, kn))
    data = view(dref, dn)
    if len(data) < _NONCE + 16:
        raise WippyError(INTERNAL, "decryption failed: ciphertext too short", False)
    try:
        return c.decrypt(data[:_NONCE], data[_NONCE:], take(aref, an) if aref is not None else None)
    except InvalidTag:
        raise WippyError(INTERNAL, "decryption failed: message authentication failed", False) from None


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _sign(alg: str, key: bytes, msg: bytes) -> bytes:
    if alg in _HMAC_ALGS:
        return _hmac.new(key, msg, _HMAC_ALGS[alg]).digest()
    if alg == "RS256":
        try:
            pk = serialization.load_pem_private_key(key, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise _invalid(f"invalid RSA private key: {e}") from None
        if not isinstance(pk, rsa.RSAPrivateKey):
            raise _invalid("RS256 needs an RSA private key")
        return pk.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    raise _invalid(f"unsupported algorithm {alg!r} (HS256, HS384, HS512, RS256)")


def _check_sig(alg: str, key: bytes, msg: bytes, sig: bytes) -> bool:
    if alg in _HMAC_ALGS:
        return _hmac.compare_digest(_hmac.new(key, msg, _HMAC_ALGS[alg]).digest(), sig)
    if alg == "RS256":
        try:
            pub = serialization.load_pem_public_key(key)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise _invalid(f"invalid RSA public key: {e}") from None
        if not isinstance(pub, rsa.RSAPublicKey):
            raise _invalid("RS256 needs an RSA public key")
        try:
            pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            return False
    raise _invalid(f"unsupported algorithm {alg!r} (HS256, HS384, HS512, RS256)")


def jwt_encode(claims, key: bytes, alg: str) -> str:
    if not isinstance(claims, dict):
        claims = {} if claims == [] else None
        if claims is None:
            raise _invalid("payload must be a table of claims")
    header = {"alg": alg, "typ": "JWT"}
    extra = claims.pop("_header", None)
    if isinstance(extra, dict):
        header.update(extra)
        header["alg"] = alg
    def dump(v: object) -> bytes:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()

    signing = _b64(dump(header)) + "." + _b64(dump(claims))
    return signing + "." + _b64(_sign(alg, key, signing.encode("ascii")))


def jwt_verify(token: str, key: bytes, alg: str, require_exp: bool):
    parts = token.split(".")
    if len(parts) != 3:
        raise _invalid("malformed token: expected three dot-separated parts")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        sig = _unb64(parts[2])
    except (ValueError, TypeError) as e:
        raise _invalid(f"malformed token: {e}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid("malformed token: header and claims must be objects")
    if header.get("alg") != alg:
        raise WippyError(INTERNAL, f"token algorithm {header.get('alg')!r} does not match expected {alg!r}", False)
    if not _check_sig(alg, key, (parts[0] + "." + parts[1]).encode("ascii"), sig):
        raise WippyError(INTERNAL, "token signature is invalid", False)
    now = time.time()
    exp = claims.get("exp")
    if exp is None and require_exp:
        raise WippyError(INTERNAL, "token has no expiration (exp)", False)
    if exp is not None and (not isinstance(exp, (int, float)) or now >= exp):
        raise WippyError(INTERNAL, "token is expired", False)
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and now < nbf:
        raise WippyError(INTERNAL, "token is not valid yet (nbf)", False)
    return claims


async def pbkdf2(pref, pn, sref, sn, iterations: int, length: int, algo: str) -> bytes:
    # up to 10 million iterations: seconds of C, in a worker thread (offload.py)
    password, salt = take(pref, pn), take(sref, sn)
    return await offload.run(hashlib.pbkdf2_hmac, algo, password, salt, iterations, length)


def install(engine):
    return {
        "random_bytes": os.urandom,
        "random_string": random_string,
        "random_uuid": lambda: str(uuid.uuid4()),
        "hmac": lambda algo, kref, kn, dref, dn: _hmac.new(take(kref, kn), view(dref, dn), algo).hexdigest(),
        "encrypt": encrypt,
        "decrypt": decrypt,
        "jwt_encode": lambda claims, kref, kn, alg: jwt_encode(engine.py(claims), take(kref, kn), alg),
        "jwt_verify": lambda token, kref, kn, alg, req: engine.to_lua(jwt_verify(token, take(kref, kn), alg, bool(req))),
        "pbkdf2": pbkdf2,
        "compare": lambda aref, an, bref, bn: _hmac.compare_digest(take(aref, an), take(bref, bn)),
    }
