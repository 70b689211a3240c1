#!/usr/bin/python3
"""Write the seed corpora in tests/fuzz/corpus/ (committed; run again only
to change them): small inputs that reach each branch of the parsers, for
libFuzzer to start from and for the standalone runner to replay in every
test run.

    tests/fuzz/make-corpus.py                 # tlv apdu padding piv_crypto
    tests/fuzz/make-corpus.py --build DIR     # all, recording piv,
                                              # piv_write and module
    tests/fuzz/make-corpus.py --build DIR module   # just one

tlv, apdu, padding and piv_crypto are written from this file alone. piv,
piv_write and module are sessions with a real (virtual) card: each harness
runs in record mode (tests/fuzz/fuzz_card.h) against `kyso-vcard --type piv
--provision demo` from the build folder DIR, and the recording is the seed;
hand-written seeds and variants of the recordings are added to them. The
demo card's keys are new on every run, so recorded seeds change each time.
Only the standard library is used.
"""
import argparse
import base64
import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def tlv(tag, value):
    """One BER-TLV element, minimal length (X.690 8.1.3)."""
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        ln = bytes([n])
    elif n <= 0xFF:
        ln = b"\x81" + bytes([n])
    elif n <= 0xFFFF:
        ln = b"\x82" + n.to_bytes(2, "big")
    else:
        ln = b"\x83" + n.to_bytes(3, "big")
    return t + ln + value


TLV_SEEDS = {
    # PIV-style objects (SP 800-73-4 pt 1): GET DATA answers are 53 { ... }.
    "piv-chuid": tlv(0x53, tlv(0x30, bytes(25)) + tlv(0x34, bytes(16)) +
                     tlv(0x35, b"20301231") + tlv(0x3E, b"") + tlv(0xFE, b"")),
    "piv-cert": tlv(0x53, tlv(0x70, bytes(range(256)) * 3) + tlv(0x71, b"\x00") +
                    tlv(0xFE, b"")),
    "piv-discovery": tlv(0x7E, tlv(0x4F, bytes.fromhex("A00000030800001000")) +
                         tlv(0x5F2F, b"\x40\x00")),
    "piv-genkey": tlv(0x7F49, tlv(0x86, b"\x04" + bytes(64))),
    "piv-rsa-pub": tlv(0x7F49, tlv(0x81, bytes(range(256))) + tlv(0x82, b"\x01\x00\x01")),
    "piv-auth": tlv(0x7C, tlv(0x82, b"") + tlv(0x81, bytes(8))),
    "three-byte-tags": tlv(0x5FC105, b"\x01") + tlv(0x5FC10A, b"") + tlv(0x7F8101, tlv(0x80, b"x")),
    "deep-nesting": None,   # filled in below
    "emv-like": tlv(0x70, tlv(0x9F02, b"\x00" * 6) + tlv(0x5F24, b"\x30\x12\x31")),
    "lengths": (b"\x04\x7f" + bytes(0x7F) + b"\x04\x81\x80" + bytes(0x80) +
                b"\x04\x81\x05" + bytes(5) + b"\x04\x82\x01\x00" + bytes(0x100) +
                b"\x04\x83\x00\x00\x02" + b"ab"),
    "zero-lengths": b"\x53\x00\x04\x81\x00\x04\x82\x00\x00\x04\x83\x00\x00\x00",
    # Malformed on purpose: each one of the refusals.
    "bad-indefinite": b"\x30\x80\x04\x00\x00\x00",
    "bad-len84": b"\x04\x84\x00\x00\x00\x01\x00",
    "bad-truncated": b"\x53\x82\x01\x00" + bytes(10),
    "bad-tag4": b"\x5f\xc1\x81\x01\x00",
    "bad-tag-leading-zero": b"\x5f\x80\x01\x00",
    "bad-tail": tlv(0x53, b"ok") + b"\x53",
}


def nested(depth):
    """depth SEQUENCEs around one leaf: the harness's recursion limit."""
    inner = tlv(0x04, b"leaf")
    for _ in range(depth):
        inner = tlv(0x30, inner)
    return inner


TLV_SEEDS["deep-nesting"] = nested(40)


def command(lc_class, le_class, extended=False, no_rsp=False, cla=0):
    """The 2-byte command selector fuzz_apdu.c reads."""
    b0 = lc_class | (le_class << 3) | (0x40 if extended else 0) | (0x80 if no_rsp else 0)
    return bytes([b0, cla])


def response(data):
    """One card response as fuzz_apdu.c reads it."""
    if len(data) < 0xFE:
        return bytes([len(data)]) + data
    return b"\xff" + struct.pack(">H", len(data) - 3) + data


def filler(n, sw):
    """A response of n filler bytes and sw, spelled cheaply."""
    return b"\xfe" + struct.pack(">H", n) + struct.pack(">H", sw)


SW_OK = b"\x90\x00"
# Indexes into fuzz_apdu.c's tables.
LC = {0: 0, 1: 1, 255: 2, 256: 3, 510: 4, 600: 5, 4000: 6, 65536: 7}
LE = {0: 0, 1: 1, 255: 2, 256: 3, 257: 4, 1000: 5, 65536: 6, "any": 7}

APDU_SEEDS = {
    "ok": command(LC[1], LE[0]) + response(SW_OK),
    "data": command(LC[0], LE["any"]) + response(b"\x53\x02\x01\x02" + SW_OK),
    "61xx": command(LC[0], LE["any"]) + response(b"\x01\x02\x61\x04") +
            response(b"\x03\x04\x05\x06" + SW_OK),
    "61-00": command(LC[0], LE["any"]) + response(b"\x61\x00") +
             filler(256, 0x6110) + filler(16, 0x9000),
    "61-endless": command(LC[0], LE["any"]) + response(b"\x61\x01") * 600,
    "61-flood": command(LC[0], LE["any"]) + filler(256, 0x6100) * 260,
    "6cxx": command(LC[0], LE[1]) + response(b"\x6c\x10") + filler(16, 0x9000),
    "6cxx-twice": command(LC[0], LE[1]) + response(b"\x6c\x10") + response(b"\x6c\x08"),
    "6cxx-then-61": command(LC[0], LE[255]) + response(b"\x6c\x00") +
                    filler(256, 0x6102) + response(b"ab" + SW_OK),
    "chain-600": command(LC[600], LE["any"]) + response(SW_OK) * 2 +
                 response(b"\xab" + SW_OK),
    "chain-error": command(LC[600], LE[0]) + response(SW_OK) + response(b"\x6a\x84"),
    "chain-61": command(LC[510], LE[0], cla=0x01) + response(b"\x61\x10"),
    "extended": command(LC[600], LE["any"], extended=True) + filler(1000, 0x9000),
    "extended-le": command(LC[0], LE[1000], extended=True) + filler(1000, 0x9000),
    "extended-max": command(LC[0], LE[65536], extended=True) + filler(65535, 0x9000),
    "short-le-long": command(LC[0], LE[1000]) + filler(256, 0x61E8) +
                     filler(0xE8, 0x6100) + filler(256, 0x6100) + filler(256, 0x9000),
    "short-rsp": command(LC[0], LE["any"]) + response(b"\x90"),
    "empty-rsp": command(LC[0], LE["any"]) + response(b""),
    "raw-big": command(LC[0], LE["any"]) + response(bytes(300) + SW_OK),
    "no-rsp-buf": command(LC[4000], LE[256], no_rsp=True) + response(SW_OK) * 15 +
                  response(b"\x61\x05") + response(b"hello" + SW_OK),
    "several": (command(LC[0], LE[0]) + response(SW_OK) +
                command(LC[256], LE[257]) + response(SW_OK) + response(b"\x6c\x20") +
                filler(32, 0x9000) +
                command(LC[1], LE["any"], extended=True) + response(b"\x69\x82")),
    "removed": command(LC[0], LE["any"]),
}



# ---- padding (fuzz_padding.c) ----

def pkcs1_type2(msg, k, fill=0x5A):
    """An RFC 8017 7.2.1 block: 00 02 PS 00 M, PS nonzero."""
    return b"\x00\x02" + bytes([fill]) * (k - 3 - len(msg)) + b"\x00" + msg


def mgf1(seed, n, h):
    out = b""
    counter = 0
    while len(out) < n:
        out += h(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:n]


def oaep(msg, k, h=hashlib.sha1, label=b"", seed=None):
    """EME-OAEP encoding (RFC 8017 7.1.1 step 2)."""
    hlen = h().digest_size
    db = h(label).digest() + bytes(k - len(msg) - 2 * hlen - 2) + b"\x01" + msg
    seed = seed or bytes(range(1, hlen + 1))
    masked_db = bytes(a ^ b for a, b in zip(db, mgf1(seed, k - hlen - 1, h)))
    masked_seed = bytes(a ^ b for a, b in zip(seed, mgf1(masked_db, hlen, h)))
    return b"\x00" + masked_seed + masked_db


def der_int(n):
    b = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big")
    return tlv(0x02, b)


def ecdsa_der(r, s):
    return tlv(0x30, der_int(r) + der_int(s))


# The hashes and MGFs by their index in fuzz_padding.c's tables.
SHA1, SHA224, SHA256, SHA384, SHA512 = range(5)

PADDING_SEEDS = {
    "pkcs1-128": b"\x00" + pkcs1_type2(b"secret", 128),
    "pkcs1-256-empty": b"\x00" + pkcs1_type2(b"", 256),
    "pkcs1-short-ps": b"\x00" + b"\x00\x02" + b"\x11" * 7 + b"\x00" + b"m" * 20,
    "pkcs1-no-zero": b"\x00" + b"\x00\x02" + b"\x11" * 126,
    "pkcs1-type1": b"\x00" + b"\x00\x01" + b"\xff" * 100 + b"\x00" + b"m" * 25,
    "pkcs1-wrong-k": b"\x01\x40" + pkcs1_type2(b"x", 129),
    "oaep-sha1": b"\x02" + bytes([SHA1, SHA1, 0]) + oaep(b"secret", 128),
    "oaep-sha256-label": b"\x02" + bytes([SHA256, SHA256, 4]) + b"kyso" +
                         oaep(b"key", 256, hashlib.sha256, b"kyso"),
    "oaep-mixed": b"\x02" + bytes([SHA384, SHA1, 0]) + oaep(b"m", 256, hashlib.sha384),
    "oaep-no-source": b"\x02" + bytes([SHA1, SHA1, 0x80]) + oaep(b"secret", 128),
    "oaep-md5": b"\x02" + bytes([5, 0, 0]) + oaep(b"m", 128),
    "oaep-too-small": b"\x02" + bytes([SHA512, SHA512, 0]) + bytes(100),
    "ecdsa-p256": b"\x03\x20" + ecdsa_der(2 ** 255 + 12345, 7),
    "ecdsa-p384": b"\x03\x30" + ecdsa_der(2 ** 383 - 1, 2 ** 200),
    "ecdsa-too-big": b"\x03\x20" + ecdsa_der(2 ** 256, 1),
    "ecdsa-negative": b"\x03\x20" + tlv(0x30, tlv(0x02, b"\x80\x01") + der_int(1)),
    "ecdsa-zero": b"\x03\x20" + ecdsa_der(0, 1),
    "ecdsa-trailing": b"\x03\x20" + ecdsa_der(5, 6) + b"\x00",
    "ecdsa-long-form": b"\x03\x42" + tlv(0x30, der_int(2 ** 520) + der_int(3)),
    "round-trip": b"\x04\x00" + b"message",
    "round-trip-long": b"\x04\x77" + bytes(range(256)),
    "encoders": b"\x05\x7f" + bytes(51),
    "encoders-full": b"\x05\x0a" + bytes(11),
}


# ---- piv_crypto (fuzz_piv_crypto.c) ----

SW_9000 = b"\x90\x00"


def answer(rsp):
    """One card response in fuzz_card.h's format."""
    if len(rsp) < 0xFE:
        return bytes([len(rsp)]) + rsp
    return b"\xff" + struct.pack(">H", len(rsp) - 3) + rsp


def ga_answer(value, sw=SW_9000):
    """GENERAL AUTHENTICATE's answer 7C { 82 value }."""
    return answer(tlv(0x7C, tlv(0x82, value)) + sw)


# Key sizes (k or the field) of fuzz_keys.h's keys, by number.
KEY_SIZE = {0: 128, 1: 256, 2: 32, 3: 48}
RSA1024, RSA2048, P256, P384 = range(4)
SLOT_9A, SLOT_9C, SLOT_9D, SLOT_9E = range(4)


def op(key, what, slot=SLOT_9A, sha256=False):
    return bytes([key | what << 2 | slot << 5 | (0x80 if sha256 else 0)])


def chained(key, extended):
    """RSA 2048's GENERAL AUTHENTICATE does not fit a short APDU: the first
    piece of the chain is answered 9000 first."""
    return answer(SW_9000) if key == RSA2048 and not extended else b""


def crypto_seed(ops, extended=False):
    out = bytes([0x01 if extended else 0x00])
    for key, what, slot, sha256, rsp in ops:
        out += op(key, what, slot, sha256) + chained(key, extended) + rsp
    return out


def sig_value(n):
    return bytes((i * 11 + 5) % 256 for i in range(n))


PIV_CRYPTO_SEEDS = {
    "rsa1024-sign": crypto_seed([(RSA1024, 0, SLOT_9A, False, ga_answer(sig_value(128)))]),
    "rsa2048-sign": crypto_seed([(RSA2048, 0, SLOT_9C, False, ga_answer(sig_value(256)))]),
    "rsa2048-sign-ext": crypto_seed([(RSA2048, 0, SLOT_9A, False, ga_answer(sig_value(256)))],
                                    extended=True),
    "rsa-short-result": crypto_seed([(RSA1024, 1, SLOT_9D, False, ga_answer(sig_value(100)))]),
    "rsa-long-result": crypto_seed([(RSA1024, 1, SLOT_9D, False, ga_answer(sig_value(129)))]),
    "rsa-pss": crypto_seed([(RSA2048, 2, SLOT_9A, True, ga_answer(sig_value(256))),
                            (RSA1024, 2, SLOT_9E, False, ga_answer(sig_value(128)))]),
    "rsa-decrypt": crypto_seed([(RSA1024, 3, SLOT_9D, False,
                                 ga_answer(pkcs1_type2(b"secret", 128)))]),
    "rsa-decrypt-2048": crypto_seed([(RSA2048, 3, SLOT_9D, False,
                                      ga_answer(pkcs1_type2(b"key", 256)[1:]))]),
    "rsa-oaep": crypto_seed([(RSA1024, 4, SLOT_9D, False, ga_answer(oaep(b"secret", 128)))]),
    "rsa-oaep-label": crypto_seed([(RSA2048, 4, SLOT_9D, True,
                                    ga_answer(oaep(b"key", 256, hashlib.sha256, b"kyso")))]),
    "rsa-x509": crypto_seed([(RSA1024, 5, SLOT_9D, False, ga_answer(sig_value(128)))]),
    "rsa-no-82": crypto_seed([(RSA1024, 0, SLOT_9A, False,
                               answer(tlv(0x7C, tlv(0x81, b"x")) + SW_9000))]),
    "rsa-empty": crypto_seed([(RSA1024, 0, SLOT_9A, False, answer(SW_9000))]),
    "rsa-pin-needed": crypto_seed([(RSA1024, 0, SLOT_9C, False, answer(b"\x69\x82"))]),
    "rsa-bad-7c": crypto_seed([(RSA1024, 0, SLOT_9A, False,
                                answer(b"\x7c\x82\x01\x00\x82\x00" + SW_9000))]),
    "p256-sign": crypto_seed([(P256, 0, SLOT_9C, False, ga_answer(ecdsa_der(2 ** 250, 3 ** 100)))]),
    "p384-sign": crypto_seed([(P384, 2, SLOT_9E, False, ga_answer(ecdsa_der(2 ** 380, 5 ** 150)))]),
    "p256-sign-short-hash": crypto_seed([(P256, 1, SLOT_9A, False,
                                          ga_answer(ecdsa_der(1, 2)))]),
    "p256-sig-too-big": crypto_seed([(P256, 0, SLOT_9C, False,
                                      ga_answer(ecdsa_der(2 ** 300, 1)))]),
    "p256-derive": crypto_seed([(P256, 3, SLOT_9D, False, ga_answer(bytes(range(32))))]),
    "p384-derive-der": crypto_seed([(P384, 4, SLOT_9E, False, ga_answer(bytes(range(48))))]),
    "p256-derive-short": crypto_seed([(P256, 3, SLOT_9D, False, ga_answer(bytes(31)))]),
    "wrong-type": crypto_seed([(RSA1024, 6, SLOT_9A, False, b""), (P256, 6, SLOT_9A, False, b"")]),
    "reset-then-sign": (b"\x00" + op(P256, 7, SLOT_9A) +
                        answer(SW_9000) + ga_answer(ecdsa_der(9, 9))),
    "several": crypto_seed([
        (RSA1024, 0, SLOT_9A, False, ga_answer(sig_value(128))),
        (P256, 0, SLOT_9C, False, ga_answer(ecdsa_der(2 ** 200, 2 ** 201))),
        (RSA2048, 3, SLOT_9D, False, ga_answer(pkcs1_type2(b"k", 256))),
        (P384, 3, SLOT_9E, False, ga_answer(bytes(48))),
    ]),
}


# ---- piv (fuzz_piv.c): hand-written cards that are not YubiKeys ----

# fuzz_keys.h's certificate (self-signed, P-256).
FUZZ_CERT = base64.b64decode(
    "MIIBtTCCAVugAwIBAgIURGt/1a+p0QweVjhuV+cUx7BX3e8wCgYIKoZIzj0EAwIw"
    "LzENMAsGA1UECgwEa3lzbzEeMBwGA1UEAwwVa3lzbyBmdXp6IGNlcnRpZmljYXRl"
    "MCAXDTI2MTEyOTE5NDMzNVoYDzIxMjYxMTA1MTk0MzM1WjAvMQ0wCwYDVQQKDARr"
    "eXNvMR4wHAYDVQQDDBVreXNvIGZ1enogY2VydGlmaWNhdGUwWTATBgcqhkjOPQIB"
    "BggqhkjOPQMBBwNCAARx/ms4o0jKv2ZmPtBVH1vtPIURooCNN1uwvXCvzrRVPQVV"
    "WLYvLMNqdgWiAAyaUjfiI9UEQAzk3mrnTbuv3dUMo1MwUTAdBgNVHQ4EFgQUZcBg"
    "gOl/aPtm1Jk2ogHZSXY/nWowHwYDVR0jBBgwFoAUZcBggOl/aPtm1Jk2ogHZSXY/"
    "nWowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBTjjfjd/aLYH0J"
    "jmIIMLlDUPXKkO3VI/WiI8sj4ZohhQIhAOfuM30kXRqdszBWVHXqljJOxXMnSjaQ"
    "0G82uukRQ9aO")

NOT_FOUND = answer(b"\x6a\x82")


def container(cert, info=b"\x00"):
    """A certificate container, SP 800-73-4 pt 1 table 10."""
    return answer(tlv(0x53, tlv(0x70, cert) + tlv(0x71, info) + tlv(0xFE, b"")) + SW_9000)


def chuid(fascn, guid):
    body = b""
    if fascn is not None:
        body += tlv(0x30, fascn)
    body += tlv(0x32, b"\x00\x01") + tlv(0x33, b"\x12\x34")
    if guid is not None:
        body += tlv(0x34, guid)
    return body + tlv(0x35, b"20301231") + tlv(0x3E, b"") + tlv(0xFE, b"")


def plain_card(chuid_rsp, history=NOT_FOUND, certs=None, flags=0, tail=b""):
    """A PIV card without the YubiKey extensions, in the order fuzz_piv.c
    talks to it: SELECT, GET SERIAL (unknown), CHUID, VERIFY status, Key
    History, the certificates, VERIFY status again, then `tail`."""
    certs = certs if certs is not None else [NOT_FOUND] * 4
    return (bytes([flags]) + answer(SW_9000) + answer(b"\x6d\x00") + chuid_rsp +
            answer(b"\x63\xc3") + history + b"".join(certs) + answer(b"\x63\xc3") +
            tail + answer(SW_9000))


FASCN = bytes.fromhex("d4e739da739ced39ce739d836858210842108421c84210c3eb")
NO_AGENCY = bytes.fromhex("d4e7398000000000000000000000000000000000000000000000")[:25]
GUID = bytes(range(1, 17))

PIV_HAND_SEEDS = {
    "plain-fascn": plain_card(answer(tlv(0x53, chuid(FASCN, GUID)) + SW_9000)),
    "plain-guid": plain_card(answer(tlv(0x53, chuid(NO_AGENCY, GUID)) + SW_9000)),
    "plain-zero-guid": plain_card(answer(tlv(0x53, chuid(None, bytes(16))) + SW_9000)),
    "plain-no-chuid": plain_card(NOT_FOUND),
    "plain-bad-chuid": plain_card(answer(b"\x53\x82\x01\x00\x30\x19" + SW_9000)),
    "plain-certs": plain_card(NOT_FOUND, certs=[container(FUZZ_CERT), NOT_FOUND,
                                                container(FUZZ_CERT, b"\x01"),
                                                answer(tlv(0x53, b"") + SW_9000)]),
    "plain-cert-junk": plain_card(NOT_FOUND, certs=[container(FUZZ_CERT[:200]),
                                                    container(FUZZ_CERT + b"tail"),
                                                    container(b""),
                                                    container(FUZZ_CERT, b"")]),
    "plain-history": plain_card(
        NOT_FOUND,
        history=answer(tlv(0x53, tlv(0xC1, b"\x02") + tlv(0xC2, b"\x01") +
                           tlv(0xF3, b"http://example.org/keys") + tlv(0xFE, b"")) + SW_9000),
        certs=[NOT_FOUND] * 4 + [container(FUZZ_CERT), NOT_FOUND]),
    "plain-history-too-many": plain_card(
        NOT_FOUND,
        history=answer(tlv(0x53, tlv(0xC1, b"\x14") + tlv(0xC2, b"\x01")) + SW_9000)),
    "plain-history-bad": plain_card(
        NOT_FOUND, history=answer(tlv(0x53, tlv(0xC1, b"\x01\x02")) + SW_9000)),
    "plain-locked": (b"\x00" + answer(SW_9000) + answer(b"\x6d\x00") + NOT_FOUND +
                     answer(b"\x69\x83")),
    "not-piv": b"\x00" + answer(b"\x6a\x82"),
    "select-removed": b"\x00",
}


# ---- Recording sessions with kyso-vcard (fuzz_card.h, record mode) ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(build, harness, script):
    """Run `harness` in record mode on the input `script` (its own choices,
    no answers) against a new demo PIV card; return the recording."""
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "script")
        out = os.path.join(tmp, "recording")
        with open(inp, "wb") as fp:
            fp.write(script)
        port = free_port()
        env = dict(os.environ, KYSO_FUZZ_RECORD="%d:%s" % (port, out))
        env.pop("KYSO_DEBUG", None)
        fuzzer = subprocess.Popen(
            [os.path.join(build, "tests", "fuzz", "fuzz_" + harness),
             "--iterations", "0", inp],
            env=env, stdout=subprocess.DEVNULL)
        time.sleep(0.2)
        card = subprocess.Popen(
            [os.path.join(build, "tests", "vcard", "kyso-vcard"), "--type", "piv",
             "--port", str(port), "--provision", "demo"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rc = fuzzer.wait(timeout=120)
        finally:
            card.terminate()
            card.wait(timeout=30)
            if fuzzer.poll() is None:
                fuzzer.kill()
                fuzzer.wait()
        if rc != 0:
            sys.exit("make-corpus: recording %s %s failed" % (harness, script.hex()))
        with open(out, "rb") as fp:
            return fp.read()


def split_answers(data, start):
    """The answers of a recording from offset `start` on (every recorded
    answer is in the plain or the FF form)."""
    out = []
    pos = start
    while pos < len(data):
        n = data[pos]
        if n == 0xFF:
            n = struct.unpack(">H", data[pos + 1:pos + 3])[0] + 3
            pos += 3
        else:
            pos += 1
        out.append(data[pos:pos + n])
        pos += n
    return out


def join_answers(answers):
    return b"".join(answer(a) for a in answers)


def commands(answers):
    """Answers grouped by command: 61xx answers and their GET RESPONSEs."""
    groups, cur = [], []
    for a in answers:
        cur.append(a)
        if len(a) < 2 or a[-2] != 0x61:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def piv_variants(rec):
    """Variants of a recorded fuzz_piv session (flags byte, then SELECT,
    GET SERIAL, GET METADATA, Key History, four certificates, ...)."""
    out = {}
    # The first certificate marked gzip-compressed (CertInfo 01).
    mark = b"\x71\x01\x00\xfe\x00"
    if mark in rec:
        out["rec-compressed"] = rec.replace(mark, b"\x71\x01\x01\xfe\x00", 1)
    groups = commands(split_answers(rec, 1))
    if len(groups) > 8:
        # A Key History with 2 on-card retired keys: 82 holds a copy of
        # the last certificate read, 83 none.
        hist = [a.replace(b"\xc1\x01\x00", b"\xc1\x01\x02", 1) for a in groups[3]]
        g = groups[:3] + [hist] + groups[4:8] + [groups[7], [b"\x6a\x82"]] + groups[8:]
        out["rec-retired"] = rec[:1] + join_answers([a for grp in g for a in grp])
        # Every answer cut at its half: truncated TLVs everywhere.
        half = [a[:len(a) // 2] + a[-2:] for a in split_answers(rec, 1)]
        out["rec-halved"] = rec[:1] + join_answers(half)
    return out


def record_piv(build):
    seeds = dict(PIV_HAND_SEEDS)
    for flags in (0x00, 0x02, 0x0C, 0x10, 0x20, 0x40, 0x80, 0xDC, 0x7E):
        seeds["rec-%02x" % flags] = record(build, "piv", bytes([flags]))
    seeds.update(piv_variants(seeds["rec-00"]))
    return seeds


def write_rounds(*rounds, flags=0x04):
    """fuzz_piv_write.c's input: flags, then (alg, action, slot) rounds."""
    return bytes([flags]) + b"".join(bytes([alg | action << 3, slot])
                                     for alg, action, slot in rounds)


GEN, CERT, DELETE, GEN_CERT = range(4)
A_RSA1024, A_RSA2048, A_RSA3072, A_RSA4096, A_P256, A_P384, A_RSA512, A_K256 = range(8)

PIV_WRITE_SCRIPTS = {
    "gen-rsa2048": write_rounds((A_RSA2048, GEN, 0)),
    "gen-p256-cert": write_rounds((A_P256, GEN_CERT, 1)),
    "gen-p384": write_rounds((A_P384, GEN, 3)),
    "gen-rsa1024-retired": write_rounds((A_RSA1024, GEN_CERT, 4)),
    "cert-delete": write_rounds((0, CERT, 2), (0, DELETE, 2)),
    "retired-certs": write_rounds((0, CERT, 5), (0, CERT, 23), (0, DELETE, 5)),
    "gen-rsa3072-t0": write_rounds((A_RSA3072, GEN, 0), flags=0x06),
    "not-yubikey": write_rounds((A_P256, GEN, 1), flags=0x00),
    "refused-algs": write_rounds((A_RSA512, GEN, 0), (A_K256, GEN, 1), (A_P256, GEN, 2)),
    # The administrator's hooks: bits 5-7 of the first byte of a round.
    "admin-defaults": write_rounds((0x20, DELETE, 0)),
    "admin-mgmt-key": write_rounds((A_P256 | 0x40, GEN, 1)),
    "admin-reset": write_rounds((0xE0, CERT, 0)),
    "admin-not-yubikey": write_rounds((0xE0, DELETE, 0), flags=0x00),
}


def record_piv_write(build):
    seeds = {}
    for name, script in PIV_WRITE_SCRIPTS.items():
        seeds[name] = record(build, "piv_write", script)
    rec = seeds["gen-p256-cert"]
    # The card's answer to kyso's challenge (7C { 82 08 ... }) is wrong:
    # the management key authentication fails.
    mark = b"\x7c\x0a\x82\x08"
    if mark in rec:
        at = rec.index(mark) + len(mark)
        seeds["bad-mgmt-answer"] = rec[:at] + bytes([rec[at] ^ 0x01]) + rec[at + 1:]
    # The last PUT DATA answered 9001.
    seeds["put-data-refused"] = rec[:-1] + bytes([rec[-1] ^ 0x01])
    return seeds


# fuzz_module.c's input: flags, the transaction that finds the card reset,
# the ATR.
VCARD_ATR = bytes.fromhex("3bfd1300008131fe158073c021c057597562694b657940")


def module_script(flags=0, reset_at=0, atr=VCARD_ATR):
    return bytes([flags, reset_at, len(atr)]) + atr


MODULE_SCRIPTS = {
    "session": module_script(),
    "t0": module_script(0x02),
    "no-login": module_script(0x04),
    "multipart": module_script(0x08),
    "two-sessions": module_script(0x10),
    "events": module_script(0x20),
    "reset-early": module_script(0, 3),
    "reset-late": module_script(0x08, 12),
    "short-atr": module_script(0x3A, 0, b"\x3b\x00"),
    "writes": module_script(0x40),
    "writes-reset": module_script(0x48, 30),
}


def record_module(build):
    seeds = {}
    for name, script in MODULE_SCRIPTS.items():
        seeds[name] = record(build, "module", script)
    rec = seeds["session"]
    mark = b"\x71\x01\x00\xfe\x00"
    if mark in rec:
        seeds["compressed"] = rec.replace(mark, b"\x71\x01\x01\xfe\x00", 1)
    # The card pulled out halfway through, and near the end.
    seeds["removed-half"] = rec[:len(rec) // 2]
    seeds["removed-late"] = rec[:len(rec) - 300]
    return seeds


def write(name, seeds):
    """Replace corpus/NAME with `seeds`, keeping the regression inputs
    (regress-*: what a fuzzer once found, added by hand)."""
    folder = os.path.join(HERE, "corpus", name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if not old.startswith("regress-"):
            os.unlink(os.path.join(folder, old))
    for key, data in sorted(seeds.items()):
        with open(os.path.join(folder, key), "wb") as fp:
            fp.write(data)


SYNTHETIC = {
    "tlv": TLV_SEEDS,
    "apdu": APDU_SEEDS,
    "padding": PADDING_SEEDS,
    "piv_crypto": PIV_CRYPTO_SEEDS,
}
RECORDED = {
    "piv": record_piv,
    "piv_write": record_piv_write,
    "module": record_module,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", help="a build folder with kyso-vcard and the "
                    "standalone harnesses, to record the card sessions")
    ap.add_argument("names", nargs="*", help="corpora to write (default: all "
                    "that can be)")
    args = ap.parse_args()
    names = args.names or list(SYNTHETIC) + (list(RECORDED) if args.build else [])
    for name in names:
        if name in SYNTHETIC:
            write(name, SYNTHETIC[name])
        elif name in RECORDED and args.build:
            write(name, RECORDED[name](os.path.abspath(args.build)))
        elif name in RECORDED:
            sys.exit("make-corpus: %s is recorded from a card: give --build DIR" % name)
        else:
            sys.exit("make-corpus: no corpus %s" % name)
        print("make-corpus: %s: %d seeds" % (name, len(os.listdir(
            os.path.join(HERE, "corpus", name)))))


if __name__ == "__main__":
    main()
