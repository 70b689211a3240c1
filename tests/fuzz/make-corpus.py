#!/usr/bin/python3
"""Write the seed corpora in tests/fuzz/corpus/ (committed; run again only
to change them): small inputs that reach each branch of the TLV reader and
of the APDU response handling, for libFuzzer to start from and for the
standalone runner to replay in every test run.

    tests/fuzz/make-corpus.py        # rewrites tests/fuzz/corpus/{tlv,apdu}
"""
import os
import shutil
import struct

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


def write(name, seeds):
    folder = os.path.join(HERE, "corpus", name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for key, data in sorted(seeds.items()):
        with open(os.path.join(folder, key), "wb") as fp:
            fp.write(data)


if __name__ == "__main__":
    write("tlv", TLV_SEEDS)
    write("apdu", APDU_SEEDS)
