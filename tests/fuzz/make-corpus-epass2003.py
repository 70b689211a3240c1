#!/usr/bin/python3
"""Write the seed corpora of the ePass2003 harnesses (committed; run again
only to change them): corpus/espk, corpus/epass2003_sm, corpus/pkcs15, and
with --build DIR corpus/epass2003 too.

    tests/fuzz/make-corpus-epass2003.py [--build DIR]

Standard library and the openssl command line (the SM cryptograms under the
unit tests' session keys; a test certificate). The epass2003 seeds are whole
sessions of the driver harness: the harness (from the build DIR) runs with
KYSO_FUZZ_EP_TRACE and prints each command it decrypted; a model of a token
here (vendor layout or PKCS#15) answers it; the answers so far are fed back
until every command has one."""
import argparse
import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
S_ENC = "dc0be78286043a6c8a150beb675a0373"


def tlv(tag, value):
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        ln = bytes([n])
    elif n <= 0xFF:
        ln = b"\x81" + bytes([n])
    else:
        ln = b"\x82" + n.to_bytes(2, "big")
    return t + ln + value


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)


# ---- espk: index records and attribute streams ----
def record(fid, d, name, used, alloc, acl=0x90):
    return (struct.pack("<H", fid) + d.encode().ljust(10, b"\0") +
            name.encode().ljust(13, b"\0") + bytes([acl]) + struct.pack("<HH", used, alloc))


def attr(t, v):
    return struct.pack("<II", t, len(v)) + v


index = (record(0xFFFF, "mscp", "", 0, 0) + record(0x0103, "mscp", "cert0000", 900, 1024) +
         record(0x0203, "mscp", "prvk0000", 300, 512) + record(0x0303, "mscp", "pubk0000", 280, 512) +
         record(0x0403, "mscp", "containermap", 56, 64) + bytes(30))
prvk = (attr(0, struct.pack("<I", 3)) + attr(0x100, struct.pack("<I", 0)) +
        attr(3, "Chữ ký số".encode()) + attr(0x102, b"\x01\x02\x03\x04") +
        attr(0x120, bytes(range(256))) + attr(0x80000100, struct.pack("<I", 0xA001)) + bytes(16))
write("espk", {
    "index": index,
    "index-used-over-alloc": record(0x0103, "d", "cert0001", 300, 200),
    "index-partial": index[:75],
    "attrs-prvk": prvk,
    "attrs-cert": attr(0, struct.pack("<I", 1)) + attr(0x11, tlv(0x30, bytes(64))),
    "attrs-truncated": attr(3, b"label")[:-2],
    "attrs-huge-len": struct.pack("<II", 3, 0xFFFFFFFF) + b"x",
    "attrs-junk-tail": attr(3, b"x") + b"\x00\x00\x07",
})


# ---- epass2003_sm: flags, SW, body ----
def enc(data):
    p = data + b"\x80"
    p += bytes(-len(p) % 16)
    return subprocess.run(["openssl", "enc", "-aes-128-cbc", "-K", S_ENC, "-iv", "00" * 16,
                           "-nopad"], input=p, capture_output=True, check=True).stdout


def crypt87(data, firmware=False):
    c = b"\x01" + enc(data)
    if firmware and 0x80 <= len(c) <= 0xFF:
        return b"\x87" + bytes([len(c)]) + c
    return tlv(0x87, c)


SW = b"\x99\x02\x90\x00"
write("epass2003_sm", {
    "status-only": b"\x01\x90\x00" + SW,
    "error-status": b"\x01\x6a\x82" + b"\x99\x02\x6a\x82",
    "fci": b"\x01\x90\x00" + crypt87(bytes.fromhex("6f0483023f00")) + SW,
    "read-120": b"\x01\x90\x00" + crypt87(bytes(range(120))) + SW,
    "read-120-firmware": b"\x01\x90\x00" + crypt87(bytes(range(120)), True) + SW,
    "rsa-256": b"\x03\x90\x00" + crypt87(bytes(range(256))) + SW,
    "bad-padding": b"\x01\x90\x00" + tlv(0x87, b"\x01" + bytes(16)) + SW,
    "sw-mismatch": b"\x01\x90\x00" + b"\x99\x02\x6a\x82",
    "forged": b"\x00\x90\x00" + SW + b"\x8e\x08" + bytes(8),
    "plain-6988": b"\x00\x69\x88",
})


# ---- pkcs15: selector byte, then the file(s) ----
def path(p, index=None, length=None):
    v = tlv(0x04, p)
    if index is not None:
        v += tlv(0x02, bytes([index])) + tlv(0x80, bytes([length]))
    return tlv(0x30, v)


odf = (tlv(0xA0, path(b"\x44\x02")) + tlv(0xA1, path(b"\x44\x03")) +
       tlv(0xA4, path(b"\x44\x04")) + tlv(0xA8, path(b"\x44\x01")))
tokeninfo = tlv(0x30, tlv(0x02, b"\x00") + tlv(0x04, bytes.fromhex("0123456789abcdef")) +
                tlv(0x0C, b"EnterSafe") + tlv(0x80, b"ePass2003") + tlv(0x03, b"\x04\x10"))
common = tlv(0x30, tlv(0x0C, b"Private Key") + tlv(0x03, b"\x07\x80") + tlv(0x04, b"\x01"))
key_id = bytes(range(20))
prk = tlv(0x30, common + tlv(0x30, tlv(0x04, key_id) + tlv(0x03, b"\x01\x26") +
                             tlv(0x02, b"\x01")) +
          tlv(0xA0, tlv(0x30, tlv(0x03, b"\x07\x80"))) +
          tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050152901")) + tlv(0x02, b"\x08\x00"))))
puk = tlv(0x30, tlv(0x30, tlv(0x0C, b"Public Key")) +
          tlv(0x30, tlv(0x04, key_id) + tlv(0x03, b"\x06\x40")) +
          tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050153001")) + tlv(0x02, b"\x08\x00"))))
cert = tlv(0x30, tlv(0x30, tlv(0x0C, b"Certificate")) + tlv(0x30, tlv(0x04, key_id)) +
           tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050153101")))))
pin = tlv(0x30, tlv(0x30, tlv(0x0C, b"User PIN") + tlv(0x03, b"\x06\xc0")) +
          tlv(0x30, tlv(0x04, b"\x01")) +
          tlv(0xA1, tlv(0x30, tlv(0x03, b"\x02\xcc") + tlv(0x0A, b"\x01") + tlv(0x02, b"\x04") +
                         tlv(0x02, b"\x10") + tlv(0x02, b"\x10") + tlv(0x80, b"\x01") +
                         tlv(0x04, b"\x00") + path(b"\x3f\x00"))))
so_pin = pin.replace(b"\x02\xcc", b"\x00\xff").replace(b"\x80\x01\x01", b"\x80\x01\x02")


def files(*fs):
    out = b""
    for f in fs:
        out += bytes([len(f)]) + f if f is not None else b"\xff"
    return out


write("pkcs15", {
    "odf": b"\x00" + odf + bytes(8),
    "odf-indexed": b"\x00" + tlv(0xA0, path(b"\x44\x02", 0, 40)),
    "tokeninfo": b"\x01" + tokeninfo,
    "prkdf": b"\x02" + prk + prk + bytes(4),
    "pukdf": b"\x03" + puk,
    "cdf": b"\x04" + cert,
    "aodf": b"\x05" + pin + so_pin,
    "app": b"\x06" + files(odf, tokeninfo, prk, puk, cert, pin[:0xFF]),
    "app-missing": b"\x06" + files(odf, None, None, puk),
})


# ---- epass2003: whole driver sessions against a model token ----
def test_cert():
    """An RSA-1024 key pair and a self-signed certificate: (cert DER,
    modulus, exponent)."""
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "k.pem")
        crt = os.path.join(d, "c.der")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout",
                        key, "-subj", "/CN=NGUYEN VAN AN/C=VN", "-days", "3650", "-outform",
                        "DER", "-out", crt], check=True, capture_output=True)
        text = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"],
                              check=True, capture_output=True, text=True).stdout
        n = bytes.fromhex(text.strip().split("=", 1)[1])
        with open(crt, "rb") as f:
            return f.read(), n, b"\x01\x00\x01"


def test_ec_spki():
    """A P-256 public key as pkcs15-init stores it: SubjectPublicKeyInfo DER."""
    key = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"],
                         check=True, capture_output=True).stdout
    return subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=key,
                          check=True, capture_output=True).stdout


class Node:
    def __init__(self, fid, df=False, name=b"", data=b""):
        self.fid, self.df, self.name, self.data, self.kids = fid, df, name, data, {}

    def add(self, node):
        self.kids[node.fid] = node
        node.parent = self
        return node

    def fci(self):
        v = tlv(0x82, b"\x38\x00" if self.df else b"\x01\x00") + tlv(0x83, struct.pack(">H", self.fid))
        if not self.df:
            v += tlv(0x80, struct.pack(">H", len(self.data)))
        if self.name:
            v += tlv(0x84, self.name)
        return tlv(0x6F, v)


def vendor_fs(cert, n, e):
    mf = Node(0x3F00, True)
    mf.parent = mf
    df = mf.add(Node(0x2003, True, b"ENTERSAFE-ESPK"))
    key_id = bytes(range(20))
    files = [
        (0x6F02, "tokeninfo", attr(3, b"VNPT-CA") + attr(0x80000001, b"ePass2003")),
        (0x0101, "cert0000", attr(0, struct.pack("<I", 1)) + attr(3, "Chữ ký".encode()) +
         attr(0x102, key_id) + attr(0x11, cert)),
        (0x0201, "pubk0000", attr(0, struct.pack("<I", 2)) + attr(0x102, key_id) +
         attr(0x120, n) + attr(0x122, e) + attr(0x80000100, struct.pack("<I", 0x8001))),
        (0x0301, "prvk0000", attr(0, struct.pack("<I", 3)) + attr(0x102, key_id) +
         attr(0x120, n) + attr(0x80000100, struct.pack("<I", 0xA001))),
    ]
    idx = record(0xFFFF, "internal", "", 0, 0)
    for fid, name, data in files:
        df.add(Node(fid, data=data))
        idx += record(fid, "mscp", name, len(data), len(data) + 16)
    df.add(Node(0x6F01, data=idx))
    return mf


def pkcs15_fs(cert, n, e):
    mf = Node(0x3F00, True)
    mf.parent = mf
    app = mf.add(Node(0x5015, True, bytes.fromhex("A000000063504B43532D3135")))
    key_id = bytes(range(20))
    rsa_pub = tlv(0x30, tlv(0x02, b"\x00" + n) + tlv(0x02, e))
    odf = (tlv(0xA0, path(b"\x44\x02")) + tlv(0xA1, path(b"\x44\x03")) +
           tlv(0xA4, path(b"\x44\x04")) + tlv(0xA8, path(b"\x44\x01")))
    prkdf = tlv(0x30, tlv(0x30, tlv(0x0C, b"Private Key") + tlv(0x03, b"\x07\x80") +
                          tlv(0x04, b"\x01")) +
                tlv(0x30, tlv(0x04, key_id) + tlv(0x03, b"\x01\x26") + tlv(0x02, b"\x01")) +
                tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050152901")) +
                              tlv(0x02, b"\x04\x00"))))
    pukdf = tlv(0x30, tlv(0x30, tlv(0x0C, b"Public Key")) +
                tlv(0x30, tlv(0x04, key_id) + tlv(0x03, b"\x06\x40")) +
                tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050153001")) +
                              tlv(0x02, b"\x04\x00"))))
    cdf = tlv(0x30, tlv(0x30, tlv(0x0C, b"Certificate")) + tlv(0x30, tlv(0x04, key_id)) +
              tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050153101")))))
    # A P-256 key pair as pkcs15-init -G ec/prime256v1 writes it: the [0]
    # choice, keyInfo 256 on the private key, key reference 2 (EF 2940).
    ec_id = bytes(range(1, 21))
    prkdf += tlv(0xA0, tlv(0x30, tlv(0x0C, b"gen-ec") + tlv(0x03, b"\x06\xc0") +
                               tlv(0x04, b"\x01")) +
                 tlv(0x30, tlv(0x04, ec_id) + tlv(0x03, b"\x05\x20") + tlv(0x02, b"\x02")) +
                 tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050152902")) +
                               tlv(0x02, b"\x01\x00"))))
    pukdf += tlv(0xA0, tlv(0x30, tlv(0x0C, b"gen-ec")) +
                 tlv(0x30, tlv(0x04, ec_id) + tlv(0x03, b"\x02\x01\x02")) +
                 tlv(0xA1, tlv(0x30, path(bytes.fromhex("3f0050153002")))))
    for fid, data in [(0x5031, odf), (0x5032, tokeninfo), (0x4401, pin + so_pin),
                      (0x4402, prkdf), (0x4403, pukdf), (0x4404, cdf),
                      (0x9F00, b"\x06\x06"), (0x3020, rsa_pub), (0x3120, cert),
                      (0x3040, test_ec_spki())]:
        app.add(Node(fid, data=data))
    return mf


class Model:
    """A token answering plain commands (what the harness decrypted)."""

    def __init__(self, mf, k):
        self.mf, self.cur, self.ef, self.k = mf, mf, None, k

    def answer(self, ins, p1, p2, data, le):
        sw = b"\x90\x00"
        if ins == 0xCA:
            return bytes(range(8)) + sw
        if ins == 0x84:
            return bytes(range(0x10, 0x10 + min(le, 16))) + sw
        if ins == 0xA4:
            fid = struct.unpack(">H", data)[0]
            if fid == 0x3F00:
                node = self.mf
            elif fid == self.cur.fid:
                node = self.cur
            elif fid in self.cur.kids:
                node = self.cur.kids[fid]
            elif fid == self.cur.parent.fid:
                node = self.cur.parent
            else:
                return b"\x6a\x82"
            if node.df:
                self.cur, self.ef = node, None
            else:
                self.ef = node
            return node.fci() + sw
        if ins == 0xB0:
            if self.ef is None:
                return b"\x69\x86"
            off = p1 << 8 | p2
            if off >= len(self.ef.data):
                return b"\x6b\x00"
            return self.ef.data[off:off + le] + sw
        if ins == 0x82:
            return sw if data else b"\x63\xc6"
        if ins == 0x2A and p1 == 0x9E:
            return bytes([0x42]) * 64 + sw    # ECDSA: r || s
        if ins == 0x2A:
            return bytes([0x42]) * self.k + sw
        return sw


def run_harness(exe, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        # No card cache (drivers/cache.h), as in the test suite.
        env = dict(os.environ, KYSO_FUZZ_EP_TRACE="1", HOME="", XDG_CACHE_HOME="")
        res = subprocess.run([exe, "--iterations", "0", f.name], env=env, capture_output=True,
                             text=True)
    cmds = []
    for line in res.stderr.splitlines():
        if line.startswith("ep-cmd "):
            _, ins, p1, p2, d, le = line.split()
            cmds.append((int(ins, 16), int(p1, 16), int(p2, 16),
                         b"" if d == "-" else bytes.fromhex(d), int(le)))
    return cmds


def fuzz_answer(rsp):
    if len(rsp) < 0xFE:
        return bytes([len(rsp)]) + rsp
    return b"\xff" + struct.pack(">H", len(rsp) - 3) + rsp


def session(exe, flags, fs, k, modes=()):
    """The input that answers every command of the harness with `flags`;
    `modes`: the per-answer mode bytes (flag bit 0), 0 when not listed."""
    answers = []
    for _ in range(500):
        prefix = bytes([flags])
        for i, a in enumerate(answers):
            if flags & 1:
                prefix += bytes([modes[i] if i < len(modes) else 0])
            prefix += a
        cmds = run_harness(exe, prefix)
        if len(cmds) <= len(answers):
            return prefix
        model = Model(fs, k)
        for c in cmds[:len(answers) + 1]:
            rsp = model.answer(*c)
        answers.append(fuzz_answer(rsp))
    raise SystemExit("epass2003 seed: no end after 500 commands")


def epass2003_seeds(build):
    exe = os.path.join(build, "tests", "fuzz", "fuzz_epass2003")
    cert, n, e = test_cert()
    seeds = {}
    for name, fs in (("vendor", vendor_fs), ("pkcs15", pkcs15_fs)):
        seeds[name + "-read"] = session(exe, 0x80, fs(cert, n, e), len(n))
        seeds[name + "-all"] = session(exe, 0xFE, fs(cert, n, e), len(n))
    # The session dropped (6988) on the 5th command, a forged MAC on the 9th.
    seeds["vendor-6988"] = session(exe, 0x07, vendor_fs(cert, n, e), len(n),
                                   modes=(0, 0, 0, 0, 3, 0, 0, 0, 2))
    write("epass2003", seeds)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", help="build folder with tests/fuzz/fuzz_epass2003")
    args = ap.parse_args()
    if args.build:
        epass2003_seeds(args.build)
