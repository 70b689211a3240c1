"""What the PIV acceptance tests (issue 3) share: the demo card in a rig,
pkcs11-tool and OpenSSL as subprocesses, PyKCS11 in the test process,
and the small conversions between PKCS#11 and OpenSSL formats.

Each test is a script run with /usr/bin/python3 (Debian's PyKCS11 lives
there). The rig (tests/integration/rig.py) starts the private pcscd and
the cards; every client command gets the rig's environment (`r.env`),
which points it at that pcscd (and, in sanitizer builds, preloads the
runtime the module needs).
"""

import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import rig  # noqa: E402  (tests/integration/rig.py)

check = rig.check
fail = rig.fail
log = rig.log

MODULE = rig.MODULE
OPENSC_MODULE = rig.OPENSC_MODULE

# What `kyso-vcard --type piv --provision demo` holds (tests/vcard/piv).
PIN = '123456'
PUK = '12345678'
# The slots of the demo card: CKA_ID (as OpenSC numbers PIV keys), key
# reference, key type, size, and the label of the certificate.
DEMO_KEYS = [
    {'id': 0x01, 'ref': 0x9A, 'type': 'rsa', 'bits': 2048,
     'cert_label': 'Certificate for PIV Authentication'},
    {'id': 0x02, 'ref': 0x9C, 'type': 'ec', 'bits': 256, 'curve': 'P-256',
     'cert_label': 'Certificate for Digital Signature'},
    {'id': 0x03, 'ref': 0x9D, 'type': 'rsa', 'bits': 2048,
     'cert_label': 'Certificate for Key Management'},
    {'id': 0x04, 'ref': 0x9E, 'type': 'ec', 'bits': 384, 'curve': 'P-384',
     'cert_label': 'Certificate for Card Authentication'},
]
# 9C is the Digital Signature key: PIN always (SP 800-73-4 pt 1, 3.2.2).
ALWAYS_AUTH_ID = 0x02


# ------------------------------------------------------------- files

workdir = rig.workdir


def write(path, data):
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)
    return path


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# ------------------------------------------------------------- the card

def start_demo_card(r, work, reader=0, name='piv'):
    """The demo PIV card in `reader`, its state kept in `work`. Returns
    (card, state file, demo CA certificate file)."""
    state = os.path.join(work, '%s.state' % name)
    card = r.start_card(reader, 'piv', state=state, provision='demo')
    ca = state + '.ca.pem'
    check(os.path.exists(ca), 'kyso-vcard --provision demo wrote no CA '
          'certificate at %s' % ca)
    return card, state, ca


def restart_card(r, card, state, reader=0):
    """Pull the card out and put it back: the same state file, a new
    process (what a user unplugging a token and plugging it in does)."""
    card.stop()
    return r.start_card(reader, 'piv', state=state)


# ------------------------------------------------------------- commands

def run_ok(cmd, env, what, timeout=60, input=None):
    """Run a command that must succeed; the failure says `what` was being
    done and shows the command's output."""
    res = rig.run(cmd, env=env, timeout=timeout, input=input)
    if res.returncode != 0:
        fail('%s failed:\n%s' % (what, res.describe()))
    return res


def tool(env, *args, module=None, what=None, timeout=60, ok=True):
    """pkcs11-tool against `module` (kyso's by default)."""
    res = rig.pkcs11_tool(module or MODULE, *args, env=env, timeout=timeout)
    if ok and res.returncode != 0:
        fail('%s failed:\n%s' % (what or 'pkcs11-tool', res.describe()))
    return res


def openssl(env, *args, what=None, input=None):
    return run_ok(['openssl'] + list(args), env, what or 'openssl %s'
                  % args[0], input=input)


def opensc_env(r, work):
    """The rig's environment with OpenSC's file cache off (rig.opensc_env);
    `work` is kept for the callers."""
    return rig.opensc_env(r)


# --------------------------------------------------- pkcs11-tool listings

_OBJECT_KINDS = {
    'Certificate Object': 'cert',
    'Public Key Object': 'pubkey',
    'Private Key Object': 'privkey',
    'Secret Key Object': 'secret',
    'Data object': 'data',
    'Profile object': 'profile',
}


def parse_objects(listing):
    """pkcs11-tool -O output -> list of dicts with 'kind' (cert, pubkey,
    privkey...), 'head' (the first line) and the indented fields
    ('label', 'ID', 'subject', 'Usage', 'Access'...)."""
    objs = []
    cur = None
    for line in listing.splitlines():
        kind = next((k for h, k in _OBJECT_KINDS.items()
                     if line.startswith(h)), None)
        if kind is not None:
            cur = {'kind': kind, 'head': line}
            objs.append(cur)
            continue
        if cur is not None and line.startswith('  ') and ':' in line:
            k, v = line.strip().split(':', 1)
            cur.setdefault(k.strip(), v.strip())
    return objs


def count_kinds(objs):
    counts = {}
    for o in objs:
        counts[o['kind']] = counts.get(o['kind'], 0) + 1
    return counts


def token_flags(env, reader_name, module=None):
    """The "token flags" line of pkcs11-tool -T for the token in
    `reader_name`, as a set of words groups ("user PIN count low"...),
    from a process of its own (nothing cached by the test's process)."""
    res = tool(env, '-T', module=module, what='pkcs11-tool -T')
    for s in rig.parse_slots(res.stdout):
        if s['description'] == reader_name and s['token']:
            flags = s['token'].get('token flags', '')
            return set(f.strip() for f in flags.split(',') if f.strip())
    fail('pkcs11-tool -T shows no token in %s:\n%s'
         % (reader_name, res.describe()))


# ------------------------------------------------------ format conversions

def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def der_int(v):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), 'big')
    if b[0] & 0x80:
        b = b'\x00' + b
    return b'\x02' + der_len(len(b)) + b


def ecdsa_raw_to_der(sig):
    """PKCS#11 ECDSA signature (r || s, PKCS#11 2.40 2.3.1) -> the DER
    Ecdsa-Sig-Value OpenSSL verifies."""
    check(len(sig) % 2 == 0 and len(sig) > 0,
          'ECDSA signature of odd length %d: %s' % (len(sig), sig.hex()))
    h = len(sig) // 2
    body = (der_int(int.from_bytes(sig[:h], 'big')) +
            der_int(int.from_bytes(sig[h:], 'big')))
    return b'\x30' + der_len(len(body)) + body


def ec_point_from_spki(spki_der, field_bytes):
    """The uncompressed point at the end of an EC SubjectPublicKeyInfo."""
    n = 1 + 2 * field_bytes
    point = spki_der[-n:]
    check(len(spki_der) > n and point[0] == 0x04,
          'no uncompressed P-%d point at the end of %s'
          % (field_bytes * 8, spki_der.hex()))
    return point


def pem_to_der(env, pem_path, der_path, kind='x509'):
    if kind == 'x509':
        openssl(env, 'x509', '-in', pem_path, '-outform', 'DER', '-out',
                der_path)
    else:
        openssl(env, 'pkey', '-pubin', '-in', pem_path, '-outform', 'DER',
                '-out', der_path)
    return der_path


def cert_pubkey(env, cert_der_path, out_pem):
    """The public key of a DER certificate, as PEM."""
    openssl(env, 'x509', '-inform', 'DER', '-in', cert_der_path, '-pubkey',
            '-noout', '-out', out_pem, what='extracting the public key of %s'
            % cert_der_path)
    return out_pem


def verify_chain(env, cert_der_path, ca_pem, what):
    """OpenSSL accepts the certificate as issued by the demo CA."""
    work = os.path.dirname(cert_der_path)
    pem = os.path.join(work, os.path.basename(cert_der_path) + '.pem')
    openssl(env, 'x509', '-inform', 'DER', '-in', cert_der_path, '-out', pem)
    res = rig.run(['openssl', 'verify', '-CAfile', ca_pem, pem], env=env)
    check(res.returncode == 0 and ': OK' in res.stdout,
          '%s: the certificate does not verify against the demo CA %s:\n%s'
          % (what, ca_pem, res.describe()))


# ---------------------------------------------------------------- PyKCS11

def pykcs11():
    try:
        import PyKCS11
    except ImportError as e:
        fail('PyKCS11 does not load (%s): run the tests with /usr/bin/python3 '
             'and install python3-pykcs11' % e)
    return PyKCS11


def load_module(path=None):
    """Load a PKCS#11 module (kyso's by default) into this process. Call
    after the rig started: the module's PC/SC library reads
    PCSCLITE_CSOCK_NAME at its first call."""
    P = pykcs11()
    lib = P.PyKCS11Lib()
    try:
        lib.load(path or MODULE)
    except P.PyKCS11Error as e:
        fail('loading %s with PyKCS11 failed: %s' % (path or MODULE, e))
    return lib


def slot_of(lib, reader_name):
    """The slot id of the token in the reader named `reader_name`."""
    P = pykcs11()
    slots = lib.getSlotList(tokenPresent=True)
    seen = []
    for s in slots:
        desc = lib.getSlotInfo(s).slotDescription.strip()
        seen.append(desc)
        if desc == reader_name:
            return s
    fail('no token in a slot named %r; slots with tokens: %s'
         % (reader_name, seen))
    return P  # not reached


def rv_name(rv):
    P = pykcs11()
    return P.CKR.get(rv, '0x%X' % rv) if isinstance(rv, int) else str(rv)


def expect_rv(fn, want, what):
    """Call fn(); it must raise PyKCS11Error with the CKR `want` (a name
    such as 'CKR_PIN_INCORRECT' or a tuple of names)."""
    P = pykcs11()
    wants = (want,) if isinstance(want, str) else tuple(want)
    try:
        fn()
    except P.PyKCS11Error as e:
        got = P.CKR.get(e.value, '0x%X' % e.value)
        check(got in wants, '%s: expected %s, got %s'
              % (what, ' or '.join(wants), got))
        return got
    fail('%s: expected %s, but the call succeeded' % (what, ' or '.join(wants)))


def call(fn, what):
    """Call fn(); a PyKCS11Error fails the test with `what`."""
    P = pykcs11()
    try:
        return fn()
    except P.PyKCS11Error as e:
        fail('%s: %s' % (what, e))


def find_one(session, what, **attrs):
    """The one object matching the template (CKA_ names without the
    prefix: klass=..., id=..., label=...)."""
    P = pykcs11()
    tmpl = []
    for k, v in attrs.items():
        a = {'klass': P.CKA_CLASS, 'id': P.CKA_ID, 'label': P.CKA_LABEL,
             'key_type': P.CKA_KEY_TYPE}[k]
        if k == 'id' and isinstance(v, int):
            v = bytes([v])
        if isinstance(v, bytes):
            v = list(v)
        tmpl.append((a, v))
    objs = call(lambda: session.findObjects(tmpl), 'C_FindObjects for %s' % what)
    check(len(objs) == 1, '%s: C_FindObjects found %d objects, expected 1'
          % (what, len(objs)))
    return objs[0]


def attr_bytes(session, obj, attr, what):
    P = pykcs11()
    v = call(lambda: session.getAttributeValue(obj, [attr], allAsBinary=True),
             'C_GetAttributeValue(%s) of %s' % (P.CKA.get(attr, attr), what))[0]
    check(v is not None, 'C_GetAttributeValue(%s) of %s: not available'
          % (P.CKA.get(attr, attr), what))
    return bytes(v)


def save_token_cert(session, key_id, path, what):
    """Read the certificate with CKA_ID `key_id` off the token into
    `path` (DER)."""
    P = pykcs11()
    cert = find_one(session, what, klass=P.CKO_CERTIFICATE, id=key_id)
    der = attr_bytes(session, cert, P.CKA_VALUE, what)
    check(len(der) > 100 and der[0] == 0x30,
          '%s: CKA_VALUE is not a DER certificate: %s...' % (what, der[:16].hex()))
    return write(path, der)


# ------------------------------------------------------------- raw calls

class CK_ATTRIBUTE(ctypes.Structure):
    _fields_ = [('type', ctypes.c_ulong), ('pValue', ctypes.c_void_p),
                ('ulValueLen', ctypes.c_ulong)]


class RawP11:
    """The few C_ functions whose exact buffer and length behaviour the
    tests check, called through ctypes: PyKCS11 sizes buffers itself and
    turns CK_UNAVAILABLE_INFORMATION into 0. The library is the one
    PyKCS11 loaded (dlopen of the same path gives the same instance); pass
    it PyKCS11's session and object handles."""

    UNAVAILABLE = (1 << 64) - 1     # CK_UNAVAILABLE_INFORMATION, LP64
    Attribute = CK_ATTRIBUTE

    def __init__(self, path=None):
        self.c = ctypes
        self.lib = ctypes.CDLL(path or MODULE)
        ul = ctypes.c_ulong
        self.lib.C_GetAttributeValue.argtypes = [
            ul, ul, ctypes.POINTER(self.Attribute), ul]
        self.lib.C_Sign.argtypes = [ul, ctypes.c_char_p, ul, ctypes.c_char_p,
                                    ctypes.POINTER(ul)]
        self.lib.C_Decrypt.argtypes = self.lib.C_Sign.argtypes
        for f in ('C_GetAttributeValue', 'C_Sign', 'C_Decrypt'):
            getattr(self.lib, f).restype = ul

    @staticmethod
    def _h(handle):
        return handle.value() if hasattr(handle, 'value') else int(handle)

    def get_attributes(self, session, obj, wanted):
        """wanted: [(CKA_x, buffer size or None for a length query)].
        Returns (rv, [(ulValueLen, bytes or None)])."""
        c = self.c
        arr = (self.Attribute * len(wanted))()
        bufs = []
        for i, (t, size) in enumerate(wanted):
            arr[i].type = t
            if size is None:
                arr[i].pValue = None
                arr[i].ulValueLen = 0
                bufs.append(None)
            else:
                b = c.create_string_buffer(max(size, 1))
                bufs.append(b)
                arr[i].pValue = c.cast(b, c.c_void_p)
                arr[i].ulValueLen = size
        rv = self.lib.C_GetAttributeValue(self._h(session), self._h(obj), arr,
                                          len(wanted))
        out = []
        for i in range(len(wanted)):
            n = arr[i].ulValueLen
            val = None
            if bufs[i] is not None and n != self.UNAVAILABLE and \
                    n <= wanted[i][1]:
                val = bufs[i].raw[:n]
            out.append((n, val))
        return rv, out

    def _two_buffers(self, fn, session, data, size):
        c = self.c
        n = c.c_ulong(0 if size is None else size)
        out = None if size is None else c.create_string_buffer(max(size, 1))
        rv = fn(self._h(session), data, len(data), out, c.byref(n))
        val = None if out is None or rv != 0 else out.raw[:n.value]
        return rv, n.value, val

    def sign(self, session, data, size):
        """C_Sign into a buffer of `size` (None: the length query).
        Returns (rv, *pulSignatureLen, signature or None)."""
        return self._two_buffers(self.lib.C_Sign, session, data, size)

    def decrypt(self, session, data, size):
        return self._two_buffers(self.lib.C_Decrypt, session, data, size)


# ------------------------------------------------------------------- DER

def der_read(data, pos=0):
    """One DER element at `pos`: (tag byte, whole element bytes, content
    bytes, position after it). Single-byte tags are all X.509 needs."""
    check(pos + 2 <= len(data), 'DER truncated at %d' % pos)
    tag = data[pos]
    n = data[pos + 1]
    hdr = 2
    if n & 0x80:
        k = n & 0x7F
        check(1 <= k <= 4 and pos + 2 + k <= len(data),
              'bad DER length at %d' % pos)
        n = int.from_bytes(data[pos + 2:pos + 2 + k], 'big')
        hdr += k
    end = pos + hdr + n
    check(end <= len(data), 'DER element at %d overruns its parent' % pos)
    return tag, data[pos:end], data[pos + hdr:end], end


def der_children(content):
    out = []
    pos = 0
    while pos < len(content):
        tag, whole, inner, pos = der_read(content, pos)
        out.append((tag, whole, inner))
    return out


def x509_fields(der):
    """The parts of a DER certificate that PKCS#11 attributes copy
    (RFC 5280 4.1): serial (the INTEGER element), issuer, subject (Name
    elements), spki (the SubjectPublicKeyInfo element), spki_alg_params
    (the algorithm parameters element), spki_key (the BIT STRING content
    without its unused-bits byte)."""
    _, _, cert, _ = der_read(der)
    tbs = der_children(der_children(cert)[0][2])
    i = 1 if tbs[0][0] == 0xA0 else 0      # [0] version is optional
    spki = tbs[i + 5]
    alg, key = der_children(spki[2])
    alg_parts = der_children(alg[2])
    return {
        'serial': tbs[i][1],
        'issuer': tbs[i + 2][1],
        'subject': tbs[i + 4][1],
        'spki': spki[1],
        'spki_alg_params': alg_parts[1][1] if len(alg_parts) > 1 else b'',
        'spki_key': key[2][1:],
    }


def rsa_public_numbers(spki_key):
    """(modulus, exponent) bytes of an RSAPublicKey (RFC 8017 A.1.1),
    without leading zeros."""
    n, e = der_children(der_read(spki_key)[2])
    return n[2].lstrip(b'\x00'), e[2].lstrip(b'\x00')
