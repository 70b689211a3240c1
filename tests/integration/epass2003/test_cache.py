#!/usr/bin/python3
"""The card cache on the ePass2003 (issue 8, drivers/cache.h): a second
process lists the same objects with fewer APDUs, on the vendor layout and
on PKCS#15; a certificate rewritten on the token behind kyso's back (the
token's file changed while kyso was not looking) is never served stale;
the cache holds no PIN and no private key object's attributes.

The APDU counts (pkcs11-tool -O, the card's own counter) are asserted as
they are today, so that a change that costs APDUs shows here; the
listing's APDUs are explained in docs/epass2003.md."""

import glob
import hashlib
import os

import ep_helpers as h
from ep_helpers import check, log, rig

# pkcs11-tool -O, cold (empty cache) and warm (docs/epass2003.md, "APDUs").
BUDGET = {'vendor': (37, 23), 'pkcs15': (28, 23)}


def hexfield(line, i):
    return bytes.fromhex(line.split(' ')[i])


def edit_state(state, edit):
    """Rewrite the token's --state file (the card is stopped): `edit`
    gets {path hex: content bytes} of the file records and changes it."""
    with open(state) as f:
        lines = f.read().split('\n')
    files = {}
    for n, line in enumerate(lines):
        fields = line.split(' ')
        if fields[0] == 'file' and len(fields) >= 8 and fields[6] != '-':
            files[fields[1]] = bytearray(bytes.fromhex(fields[6]))
    edit(files)
    for n, line in enumerate(lines):
        fields = line.split(' ')
        if fields[0] == 'file' and fields[1] in files and fields[6] != '-':
            fields[6] = files[fields[1]].hex()
            lines[n] = ' '.join(fields)
    with open(state, 'w') as f:
        f.write('\n'.join(lines))


def listing_cost(card, env):
    before = card.apdu_count()
    objs, listing = h.objects(env, what='pkcs11-tool -O')
    return card.apdu_count() - before, objs, listing


def read_cert(env, work, key_id):
    out = os.path.join(work, 'read-%s.der' % key_id)
    if os.path.exists(out):
        os.unlink(out)
    h.tool(env, '--read-object', '--type', 'cert', '--id', key_id, '-o', out,
           what='reading certificate %s' % key_id)
    with open(out, 'rb') as f:
        return f.read()


def cache_checks(cache_dir):
    files = glob.glob(os.path.join(cache_dir, 'epass2003-*'))
    check(len(files) == 1, 'one ePass2003 cache file expected: %s' % files)
    with open(files[0], 'rb') as f:
        data = f.read()
    # The PIN as typed can be no proof here: the demo certificate's
    # subject (UID=CMND:012345678) holds the user PIN's digits. What the
    # token's PIN check uses, SHA-1 of the PIN (the key of its EXTERNAL
    # AUTHENTICATE), and the SO PIN, must not be there.
    for pin in (h.PIN, h.SO_PIN):
        check(hashlib.sha1(pin.encode()).digest() not in data,
              'a PIN\'s key is in the cache file')
    check(h.SO_PIN.encode() not in data, 'the SO PIN is in the cache file')
    # A vendor prvkNNNN stream starts with CKA_CLASS = CKO_PRIVATE_KEY
    # (u32 LE type 0, length 4, value 3): never cached.
    check(bytes.fromhex('000000000400000003000000') not in data,
          'a private key object\'s attributes are in the cache')
    return data


def vendor(r, work):
    card, state, _ = h.start_token(r, work, 'vendor', reader=0)
    env = dict(r.env, XDG_CACHE_HOME=os.path.join(work, 'cache-vendor'))
    cold, cold_objs, cold_list = listing_cost(card, env)
    warm, _, warm_list = listing_cost(card, env)
    check(warm_list == cold_list, 'the warm listing differs:\n%s\n---\n%s'
          % (cold_list, warm_list))
    check(warm < cold, 'vendor: warm %d APDUs, cold %d' % (warm, cold))
    check((cold, warm) <= BUDGET['vendor'], 'vendor: cold %d, warm %d APDUs, '
          'budget %s' % (cold, warm, BUDGET['vendor']))
    log('vendor layout: pkcs11-tool -O costs %d APDUs cold, %d warm' % (cold, warm))

    # A login and a signature: still no PIN in the cache.
    certs = sorted((o['ID'] for o in cold_objs if o['kind'] == 'cert'))
    h.sign_and_verify(env, work, certs[0], 'SHA256-RSA-PKCS', 'vendor, cached')
    cache_checks(os.path.join(env['XDG_CACHE_HOME'], 'kyso'))

    # Behind kyso's back, the same length: a certificate (the last
    # attribute of its certNNNN file) gets another signature, as a renewal with
    # the same key, label, id and subject would. Its first READ piece is
    # unchanged; the cache must not serve the old one.
    old_cert = read_cert(env, work, certs[0])
    card.stop()
    new_cert = bytearray(old_cert)
    new_cert[-1] ^= 0x5A
    new_cert[-2] ^= 0xA5

    def resign(files):
        found = [p for p in ('3f0020036f10', '3f0020036f13') if files[p].endswith(old_cert)]
        check(len(found) == 1, 'no certNNNN file ends in certificate %s' % certs[0])
        files[found[0]][-len(old_cert):] = new_cert
    edit_state(state, resign)
    card = r.start_card(0, 'epass2003', state=state)
    check(read_cert(env, work, certs[0]) == bytes(new_cert),
          'the cache served an old certificate after it was rewritten '
          '(same length, same first piece)')

    # And another length: cert0001 (6F10) now holds cert0002's stream,
    # the index (6F01) its size. A stale cache would still show the old
    # certificate's CKA_ID.
    card.stop()

    def rewrite(files):
        new = files['3f0020036f13']
        files['3f0020036f10'] = bytearray(new)
        index = files['3f0020036f01']
        for off in range(0, len(index) - 29, 30):
            if index[off:off + 2] == b'\x10\x6f':
                index[off + 26:off + 30] = (len(new).to_bytes(2, 'little') * 2)
    edit_state(state, rewrite)
    card = r.start_card(0, 'epass2003', state=state)
    _, objs, listing = listing_cost(card, env)
    ids = sorted(o['ID'] for o in objs if o['kind'] == 'cert')
    # cert0002 is the encryption certificate, "(mã hóa)".
    enc = [o['ID'] for o in cold_objs if o['kind'] == 'cert' and 'mã hóa' in o.get('label', '')]
    check(len(enc) == 1 and ids == enc * 2, 'after cert0001 was rewritten with '
          'cert0002, the certificates have ids %s (expected %s twice): the cache '
          'served a stale certificate\n%s' % (ids, enc, listing))
    again, _, _ = listing_cost(card, env)
    check(again <= warm, 'after the change a warm start costs %d, not %d' % (again, warm))
    log('vendor: a certificate rewritten on the token (same length, or not) is '
        'read again, not served from the cache; then warm again (%d APDUs)' % again)

    # kyso reads a prvkNNNN without its modulus, which the public key or
    # certificate with the same CKA_ID has. With neither left in the index
    # (renamed: not cert/pubk files any more), it reads the modulus after
    # all: both private keys are still listed, with their modulus.
    card.stop()

    def orphan(files):
        index = files['3f0020036f01']
        for off in range(0, len(index) - 29, 30):
            if index[off:off + 2] in (b'\x10\x6f', b'\x11\x6f'):
                index[off + 12:off + 16] = b'xxxx'
    edit_state(state, orphan)
    card = r.start_card(0, 'epass2003', state=state)
    objs, listing = h.objects(env, '--login', '--pin', h.PIN, what='pkcs11-tool --login -O')
    counts = h.count_kinds(objs)
    check(counts.get('privkey') == 2 and counts.get('cert') == 1,
          'with key 1\'s certificate and public key gone from the index: %s\n%s'
          % (counts, listing))
    log('vendor: a private key without public key or certificate is still listed')
    card.stop()


def pkcs15(r, work):
    card, state, _ = h.start_token(r, work, 'pkcs15', reader=1)
    env = dict(r.env, XDG_CACHE_HOME=os.path.join(work, 'cache-pkcs15'))
    cold, _, cold_list = listing_cost(card, env)
    warm, _, warm_list = listing_cost(card, env)
    check(warm_list == cold_list, 'the warm listing differs:\n%s\n---\n%s'
          % (cold_list, warm_list))
    check(warm < cold, 'pkcs15: warm %d APDUs, cold %d' % (warm, cold))
    check((cold, warm) <= BUDGET['pkcs15'], 'pkcs15: cold %d, warm %d APDUs, '
          'budget %s' % (cold, warm, BUDGET['pkcs15']))
    log('PKCS#15: pkcs11-tool -O costs %d APDUs cold, %d warm' % (cold, warm))
    cache_checks(os.path.join(env['XDG_CACHE_HOME'], 'kyso'))

    # Another certificate written into 3F00/5015/3120 (PKCS#15 path
    # 3F0050153101) while kyso was not looking: first one that differs in
    # its serial number only (same length), then a different one.
    key_id = [o['ID'] for o in h.parse_objects(cold_list) if o['kind'] == 'cert'][0]
    old_cert = read_cert(env, work, key_id)
    card.stop()
    new_cert = bytearray(old_cert)
    # 30 82 LL LL 30 82 LL LL A0 03 02 01 02 | 02 len serial: the serial's
    # last byte (its first may not change: DER's minimal INTEGER).
    check(new_cert[13] == 0x02 and 0 < new_cert[14] < 0x80, 'unexpected certificate start')
    new_cert[14 + new_cert[14]] ^= 0x01

    def reserial(files):
        check(files['3f0050153120'].startswith(old_cert), '3120 is not the certificate')
        files['3f0050153120'][:len(old_cert)] = new_cert
    edit_state(state, reserial)
    card = r.start_card(1, 'epass2003', state=state)
    check(read_cert(env, work, key_id) == bytes(new_cert),
          'the cache served the old PKCS#15 certificate after its serial changed')

    key = os.path.join(work, 'other.key')
    der = os.path.join(work, 'other.der')
    h.openssl(env, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
              '-subj', '/CN=rewritten behind kyso', '-days', '2', '-outform', 'DER',
              '-out', der, what='making another certificate')
    with open(der, 'rb') as f:
        other = f.read()
    card.stop()

    def rewrite(files):
        files['3f0050153120'] = bytearray(other)
    edit_state(state, rewrite)
    card = r.start_card(1, 'epass2003', state=state)
    _, objs, listing = listing_cost(card, env)
    check('rewritten behind kyso' in listing, 'the PKCS#15 certificate file was '
          'rewritten, kyso lists the old certificate (stale cache):\n%s' % listing)
    log('PKCS#15: a certificate rewritten on the token (same length, or not) is '
        'read again')
    card.stop()


def test():
    work = h.workdir('ep-cache')
    with rig.Rig(readers=2) as r:
        vendor(r, work)
        pkcs15(r, work)


if __name__ == '__main__':
    rig.main(test)
