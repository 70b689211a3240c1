"""What the benchmark needs to know about a virtual ePass2003 token
(`kyso-vcard --type epass2003 --provision pkcs15|vendor`), read from the
token's --state file rather than through the card: the token speaks only
secure messaging, and the benchmark must not need a module to learn the
sizes its lower bounds are made of.

The state file (tests/vcard/epass2003/ep_state.c) has one line per file:
`file <path: FIDs from 3F00, hex> <type> <access> <DF name> <key bits>
<content hex> <key DER>`. docs/epass2003-protocol.md and
docs/epass2003.md give the protocol facts the bounds count on;
docs/performance.md explains each bound.
"""

import hashlib
import subprocess

# READ BINARY under secure messaging: 0xD8 = 216 bytes of plain data per
# APDU, the piece OpenSC's epass2003 driver reads from the real token (and
# kyso's). 216 bytes pad to 224 (ISO 9797-1 method 2), and the wrapped
# answer 87 E1 01 <224> 99 02 SW 8E 08 MAC (241 bytes) fits one short
# response. Up to 223 would pad to the same 224, but no public source shows
# the token answering more than OpenSC asks (docs/performance.md).
READ_CHUNK = 0xD8

# The secure-messaging handshake (GP SCP01-like, AES): GET DATA 01 86
# (plain: AES or 3DES, SM on or off, FIPS mode), INITIALIZE UPDATE,
# EXTERNAL AUTHENTICATE. Nothing but those three is answered before it.
HANDSHAKE = [('GET DATA 01 86', 1), ('INITIALIZE UPDATE', 1),
             ('EXTERNAL AUTHENTICATE', 1)]

# PKCS#11 attribute types in the vendor layout's attribute streams.
CKA_VALUE = 0x11
CKA_ISSUER = 0x81
CKA_SERIAL_NUMBER = 0x82
ATTR_HEADER = 8         # u32 LE type, u32 LE length


class EpPrepError(Exception):
    pass


def read_state(path):
    """{path hex (e.g. '3f0050153120'): (type hex, content bytes)}."""
    files = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 7 or fields[0] != 'file':
                continue
            content = b'' if fields[6] == '-' else bytes.fromhex(fields[6])
            files[fields[1]] = (fields[2], content)
    if not files:
        raise EpPrepError('no files in the token state %s' % path)
    return files


def reads(nbytes):
    """READ BINARY APDUs for `nbytes` (at least one: an empty file still
    answers)."""
    return max(1, -(-nbytes // READ_CHUNK))


def pkcs15_used(content):
    """The bytes a PKCS#15 directory file's reader must see: its DER
    objects, and the 00 that ends them when the file is longer
    (PKCS#15 v1.1: a file of directory objects ends at its end or at a
    00 where the next tag would be; the rest of the file is zeros)."""
    used = len(content.rstrip(b'\0'))
    return min(len(content), used + 1)


def _der_header(data, off):
    """(tag, header length, value length) of the DER element at off."""
    if off + 2 > len(data):
        raise EpPrepError('truncated DER')
    tag, first = data[off], data[off + 1]
    if first < 0x80:
        return tag, 2, first
    n = first & 0x7F
    if n == 0 or n > 3 or off + 2 + n > len(data):
        raise EpPrepError('bad DER length')
    return tag, 2 + n, int.from_bytes(data[off + 2:off + 2 + n], 'big')


def cert_identity_end(der):
    """Offset just past the issuer of an X.509 certificate: its first
    bytes hold the certificate's length, serial number and issuer, which
    together name one certificate (RFC 5280, 4.1.2.2)."""
    _, h, _ = _der_header(der, 0)            # Certificate
    off = h
    _, h, _ = _der_header(der, off)          # tbsCertificate
    off += h
    tag, h, n = _der_header(der, off)
    if tag == 0xA0:                          # [0] version
        off += h + n
        tag, h, n = _der_header(der, off)
    off += h + n                             # serialNumber
    _, h, n = _der_header(der, off)          # signature algorithm
    off += h + n
    _, h, n = _der_header(der, off)          # issuer
    return off + h + n


def stream_attrs(content):
    """The vendor layout's attribute stream: [(type, value offset,
    value)], u32 LE type | u32 LE length | value (docs/epass2003.md)."""
    out = []
    off = 0
    while off + ATTR_HEADER <= len(content):
        typ = int.from_bytes(content[off:off + 4], 'little')
        n = int.from_bytes(content[off + 4:off + 8], 'little')
        start = off + ATTR_HEADER
        if start + n > len(content):
            raise EpPrepError('truncated attribute stream')
        out.append((typ, start, content[start:start + n]))
        off = start + n
    return out


def key_id_of_cert(der):
    """CKA_ID of both provisionings: SHA-1 of the modulus (the
    integer's bytes, big-endian, no leading zero)."""
    p = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout',
                        '-modulus'], input=der, capture_output=True)
    out = p.stdout.decode(errors='replace').strip()
    if p.returncode != 0 or not out.startswith('Modulus='):
        raise EpPrepError('openssl cannot read the token\'s certificate')
    modulus = bytes.fromhex(out.split('=', 1)[1]).lstrip(b'\0')
    return hashlib.sha1(modulus).hexdigest()


def _name(content, start, length):
    return content[start:start + length].split(b'\0', 1)[0].decode(
        'ascii', errors='replace')


def vendor_index(content):
    """The 6F01 index: [(FID, directory, file name, used size)], 30-byte
    records (docs/epass2003.md)."""
    out = []
    for i in range(0, len(content) - 29, 30):
        rec = content[i:i + 30]
        fid = int.from_bytes(rec[0:2], 'little')
        if fid == 0xFFFF:
            continue
        out.append((fid, _name(rec, 2, 10), _name(rec, 12, 13),
                    int.from_bytes(rec[26:28], 'little')))
    return out


def facts_pkcs15(state):
    """Sizes and ids of the --provision pkcs15 token."""
    files = read_state(state)
    base = '3f005015'

    def content(fid):
        got = files.get(base + fid)
        if got is None:
            raise EpPrepError('no file 3F00/5015/%s on the token' % fid)
        return got[1]
    cert = content('3120')
    return {
        'layout': 'pkcs15',
        'dirs': [(name, pkcs15_used(content(fid)))
                 for name, fid in (('ODF 5031', '5031'),
                                   ('TokenInfo 5032', '5032'),
                                   ('AODF 4401', '4401'),
                                   ('PrKDF 4402', '4402'),
                                   ('PuKDF 4403', '4403'),
                                   ('CDF 4404', '4404'))],
        'pubkeys': [('public key 3020 (%d B)' % len(content('3020')),
                     len(content('3020')))],
        'certs': [('cert 3120 (%d B)' % len(cert), len(cert),
                   cert_identity_end(cert))],
        'key_id': key_id_of_cert(cert),
        'cert_count': 1,
    }


def facts_vendor(state):
    """Sizes and ids of the --provision vendor (ENTERSAFE-ESPK) token."""
    files = read_state(state)
    base = '3f002003'
    index = files.get(base + '6f01')
    if index is None:
        raise EpPrepError('no index 3F00/2003/6F01 on the token')
    facts = {'layout': 'vendor', 'index': len(index[1]), 'dirs': [],
             'pubkeys': [], 'certs': [], 'key_id': None}
    for fid, _, name, used in vendor_index(index[1]):
        got = files.get(base + '%04x' % fid)
        if got is None:
            raise EpPrepError('index names %04X, not on the token' % fid)
        if name == 'tokeninfo':
            facts['dirs'].append(('tokeninfo %04X' % fid, used))
        elif name.startswith('pubk'):
            facts['pubkeys'].append(('%s %04X (%d B)' % (name, fid, used),
                                     used))
        elif name.startswith('cert'):
            attrs = {t: (o, v) for t, o, v in stream_attrs(got[1][:used])}
            if CKA_VALUE not in attrs:
                raise EpPrepError('%s has no CKA_VALUE' % name)
            # What names the certificate: its serial and issuer, stored
            # as attributes ahead of the value, or inside the value.
            ends = [o + len(v) for t, (o, v) in attrs.items()
                    if t in (CKA_ISSUER, CKA_SERIAL_NUMBER)]
            voff, der = attrs[CKA_VALUE]
            if len(ends) < 2:
                ends = [voff + cert_identity_end(der)]
            facts['certs'].append(('%s %04X (%d B)' % (name, fid, used),
                                   used, max(ends)))
            if facts['key_id'] is None:
                facts['key_id'] = key_id_of_cert(der)
    if not facts['certs'] or not facts['dirs']:
        raise EpPrepError('the vendor index names no certificate or no '
                          'tokeninfo')
    facts['cert_count'] = len(facts['certs'])
    return facts


# ------------------------------------------------------------ lower bounds

def bound_cold_start(facts):
    """The handshake; the application DF; then SELECT + READ BINARY in
    216-byte pieces for each file a listing cannot do without: the
    PKCS#15 directory files (ODF, TokenInfo, AODF, PrKDF, PuKDF, CDF), or
    the vendor index and tokeninfo; each public key file; each
    certificate."""
    parts = list(HANDSHAKE)
    if facts['layout'] == 'pkcs15':
        parts.append(('SELECT 5015', 1))
    else:
        parts.append(('SELECT 2003', 1))
        parts.append(('index 6F01 (%d B)' % facts['index'],
                      1 + reads(facts['index'])))
    for name, used in facts['dirs']:
        parts.append((name, 1 + reads(used)))
    for name, size in facts['pubkeys']:
        parts.append((name, 1 + reads(size)))
    for name, size, _ in facts['certs']:
        parts.append((name, 1 + reads(size)))
    return parts


def bound_warm_start(facts):
    """A start that may take file contents from a cache but never serves
    a changed token: the token keeps no content version either, so each
    file is selected and read again up to what proves it unchanged:
    small files whole; the vendor index whole (a new file shows only
    there); a public key file's first piece (the modulus, or its SHA-1
    CKA_ID); a certificate up to its serial number and issuer."""
    parts = list(HANDSHAKE)
    if facts['layout'] == 'pkcs15':
        parts.append(('SELECT 5015', 1))
    else:
        parts.append(('SELECT 2003', 1))
        parts.append(('index 6F01', 1 + reads(facts['index'])))
    for name, used in facts['dirs']:
        parts.append((name, 1 + reads(used)))
    for name, size in facts['pubkeys']:
        parts.append((name.split(' (')[0] + ' first piece', 2))
    for name, size, ident in facts['certs']:
        n = reads(min(size, ident))
        parts.append((name.split(' (')[0] + (' first piece' if n == 1 else
                                             ' to issuer+serial'), 1 + n))
    return parts


def bound_login_sign(facts):
    """VERIFY of FTCOS: GET CHALLENGE, then EXTERNAL AUTHENTICATE 82 01
    81 with the challenge encrypted under the PIN's key; MSE:SET naming
    the key; PSO with the 256-byte block, one extended APDU."""
    return [('GET CHALLENGE', 1), ('EXTERNAL AUTHENTICATE (PIN)', 1),
            ('MSE:SET', 1), ('PSO', 1)]


def bound_sign_many(count):
    """The security environment set by MSE:SET stays until it is
    replaced or the SM session ends (ISO 7816-4, MANAGE SECURITY
    ENVIRONMENT; the card drops it with the session): one MSE:SET, then
    one PSO per signature."""
    def bound(facts):
        return [('GET CHALLENGE', 1), ('EXTERNAL AUTHENTICATE (PIN)', 1),
                ('MSE:SET', 1), ('PSO x%d' % count, count)]
    return bound
