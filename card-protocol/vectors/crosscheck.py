#!/usr/bin/env python3
"""Independent check of tickets.json and requests.json against SPEC.md.

Written from SPEC.md alone, sharing no code with the Rust crate: a strict
deterministic-CBOR reader, Ed25519 from the `cryptography` package, HKDF and
HMAC from the standard library. Not part of CI (it needs `cryptography`);
run it by hand after regenerating the vectors:

    python3 card-protocol/vectors/crosscheck.py
"""

import hashlib
import hmac
import json
import pathlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HERE = pathlib.Path(__file__).parent
MAX_TICKET_BYTES, MAX_LEVEL2_BYTES = 180, 251
STEP_S, MAX_STEP_DRIFT, MAX_SKEW_S = 30, 1, 60


class Malformed(Exception):
    pass


class Tagged:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class Reader:
    """Strict RFC 8949 deterministic CBOR: shortest heads, definite lengths,
    map keys strictly increasing in bytewise order of their encoding."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Malformed("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def head(self):
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 31
        if info < 24:
            return major, info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise Malformed("indefinite or reserved")
        arg = int.from_bytes(self.take(sizes[info]), "big")
        if arg < {24: 24, 25: 256, 26: 65536, 27: 2**32}[info]:
            raise Malformed("non-shortest head")
        return major, arg

    def item(self):
        major, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return bytes(self.take(arg))
        if major == 3:
            return self.take(arg).decode("utf-8")
        if major == 4:
            return [self.item() for _ in range(arg)]
        if major == 5:
            out, previous = {}, None
            for _ in range(arg):
                start = self.pos
                key = self.item()
                encoded = self.data[start:self.pos]
                if previous is not None and encoded <= previous:
                    raise Malformed("map key order")
                previous = encoded
                out[key] = self.item()
            return out
        if major == 6:
            return Tagged(arg, self.item())
        raise Malformed("simple values and floats are not used")


def decode(data):
    r = Reader(data)
    value = r.item()
    if r.pos != len(data):
        raise Malformed("trailing bytes")
    return value


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 256**size:
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")


def bstr(b):
    return cbor_head(2, len(b)) + b


def verifies(public_key, message, signature):
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def parse_ticket(data):
    if len(data) > MAX_TICKET_BYTES:
        raise Malformed("too large")
    t = decode(data)
    if not isinstance(t, Tagged) or t.tag != 18:
        raise Malformed("not tag 18")
    if not (isinstance(t.value, list) and len(t.value) == 4):
        raise Malformed("not a COSE_Sign1 array")
    protected, unprotected, payload, signature = t.value
    if not (isinstance(protected, bytes) and isinstance(payload, bytes)):
        raise Malformed("header or payload not bstr")
    header = decode(protected)
    if not (isinstance(header, dict) and set(header) == {1, 4} and header[1] == -8
            and isinstance(header[4], bytes) and len(header[4]) == 4):
        raise Malformed("protected header")
    if unprotected != {}:
        raise Malformed("unprotected header")
    if not (isinstance(signature, bytes) and len(signature) == 64):
        raise Malformed("signature")
    claims = decode(payload)
    if not isinstance(claims, dict) or not set(claims) <= {1, 4, 5, 7, 8, -70000}:
        raise Malformed("claims map or unknown claim")
    if not {1, 4, 5, 7, -70000} <= set(claims):
        raise Malformed("missing claim")
    iss, exp, nbf, cti = claims[1], claims[4], claims[5], claims[7]
    if not (isinstance(iss, str) and 1 <= len(iss) <= 8):
        raise Malformed("iss")
    for date in (exp, nbf):
        if not (isinstance(date, int) and 0 <= date <= 2**32 - 1):
            raise Malformed("date")
    if nbf >= exp or not (isinstance(cti, bytes) and len(cti) == 16):
        raise Malformed("window or cti")
    private = claims[-70000]
    if not (isinstance(private, list) and len(private) == 2
            and isinstance(private[0], int) and 0 <= private[0] <= 0xFFFF
            and isinstance(private[1], int) and 0 <= private[1] <= 0xFF):
        raise Malformed("product/category")
    holder = None
    if 8 in claims:
        cnf = claims[8]
        key = cnf.get(1) if isinstance(cnf, dict) and set(cnf) == {1} else None
        if not (isinstance(key, dict) and set(key) == {1, -1, -2} and key[1] == 1
                and key[-1] == 6 and isinstance(key[-2], bytes) and len(key[-2]) == 32):
            raise Malformed("cnf")
        holder = key[-2]
    sig_structure = b"\x84" + b"\x6aSignature1" + bstr(protected) + b"\x40" + bstr(payload)
    return dict(kid=header[4], sig_structure=sig_structure, signature=signature,
                iss=iss, exp=exp, nbf=nbf, cti=cti, holder=holder,
                product=private[0], rider_category=private[1])


def verify_qr(qr, keys, now):
    if len(qr) > MAX_LEVEL2_BYTES:
        return "malformed", None
    try:
        if qr and qr[0] >> 5 == 4:
            wrapper = decode(qr)
            if not (isinstance(wrapper, list) and len(wrapper) == 3):
                raise Malformed("level-2 array")
            ticket_bytes, step, proof = wrapper
            if not (isinstance(ticket_bytes, bytes) and isinstance(step, int) and step >= 0
                    and isinstance(proof, bytes) and len(proof) == 64):
                raise Malformed("level-2 fields")
            ticket = parse_ticket(ticket_bytes)
            if ticket["holder"] is None:
                raise Malformed("level 2 around an unbound ticket")
        elif qr and qr[0] >> 5 == 6:
            ticket_bytes, step, proof = qr, None, None
            ticket = parse_ticket(qr)
        else:
            raise Malformed("unknown form")
    except (Malformed, UnicodeDecodeError):
        return "malformed", None
    candidates = [pk for kid, pk in keys if kid == ticket["kid"]]
    if not candidates:
        return "unknown_key", None
    if not any(verifies(pk, ticket["sig_structure"], ticket["signature"]) for pk in candidates):
        return "bad_signature", None
    if now < ticket["nbf"]:
        return "not_yet_valid", None
    if now >= ticket["exp"]:
        return "expired", None
    if ticket["holder"] is not None:
        if proof is None:
            return "bad_proof", None
        message = b"OT-L2" + hashlib.sha256(ticket_bytes).digest() + step.to_bytes(8, "big")
        if not verifies(ticket["holder"], message, proof):
            return "bad_proof", None
        if abs(step - now // STEP_S) > MAX_STEP_DRIFT:
            return "stale_proof", None
    return "valid", ticket


def check_tickets():
    vectors = json.loads((HERE / "tickets.json").read_text())
    keys = []
    for k in vectors["keys"]:
        public = bytes.fromhex(k["public_key"])
        assert hashlib.sha256(public).digest()[:4].hex() == k["kid"], k
        keys.append((bytes.fromhex(k["kid"]), public))
    for case in vectors["cases"]:
        verdict, ticket = verify_qr(bytes.fromhex(case["payload"]), keys, case["now"])
        assert verdict == case["expect"], (case["name"], verdict)
        if ticket is not None:
            c = case["claims"]
            got = dict(iss=ticket["iss"], exp=ticket["exp"], nbf=ticket["nbf"],
                       cti=ticket["cti"].hex(),
                       holder_key=ticket["holder"].hex() if ticket["holder"] else None,
                       product=ticket["product"], rider_category=ticket["rider_category"])
            assert got == c, (case["name"], got, c)
    return len(vectors["cases"])


def hkdf_sha256(ikm, info, length=32):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm, counter = okm + block, counter + 1
    return okm[:length]


def check_requests():
    vectors = json.loads((HERE / "requests.json").read_text())
    master = bytes.fromhex(vectors["master_key"])
    for case in vectors["cases"]:
        key = hkdf_sha256(master, b"oneticket terminal v1" + case["terminal_id"].encode())
        assert key.hex() == case["derived_key"], case["name"]
        canonical = "\n".join([case["method"], case["path"], str(case["timestamp"]),
                               case["terminal_id"],
                               hashlib.sha256(case["body"].encode()).hexdigest()])
        expected = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
        if abs(case["now"] - case["timestamp"]) > MAX_SKEW_S:
            verdict = "stale"
        elif hmac.compare_digest(expected, case["signature"]):
            verdict = "valid"
        else:
            verdict = "bad_signature"
        assert verdict == case["expect"], (case["name"], verdict)
    return len(vectors["cases"])


if __name__ == "__main__":
    print(f"tickets.json: {check_tickets()} cases agree")
    print(f"requests.json: {check_requests()} cases agree")
    sys.exit(0)
