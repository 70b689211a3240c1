#!/usr/bin/python3
"""Issue 3, acceptance: OpenSC's pkcs11-tool with kyso's module against the
demo PIV card. `--login --test` passes and really tests the keys; `-O`
lists 4 certificates and 4 public keys before login, and 4 certificates,
4 public keys and 4 private keys after; the objects carry the demo card's
ids and labels."""

import re

import piv_helpers as h
from piv_helpers import check, log, rig


def expect_objects(objs, want, what, listing):
    counts = h.count_kinds(objs)
    for kind, n in want.items():
        check(counts.get(kind, 0) == n, '%s: %d %s objects, expected %d '
              '(counts %s):\n%s' % (what, counts.get(kind, 0), kind, n,
                                   counts, listing))


def expect_ids(objs, kind, what, listing):
    """One `kind` object per demo key, with the demo key's CKA_ID."""
    ids = sorted(o.get('ID', '?') for o in objs if o['kind'] == kind)
    want = sorted('%02x' % k['id'] for k in h.DEMO_KEYS)
    check(ids == want, '%s: %s objects have ids %s, expected %s:\n%s'
          % (what, kind, ids, want, listing))


def test():
    work = h.workdir('p11tool')
    with rig.Rig(readers=2) as r:
        h.start_demo_card(r, work)
        env = r.env

        # Before login: the certificates and the public keys.
        res = h.tool(env, '-O', what='pkcs11-tool -O (before login)')
        objs = h.parse_objects(res.stdout)
        expect_objects(objs, {'cert': 4, 'pubkey': 4}, 'pkcs11-tool -O before '
                       'login', res.stdout)
        expect_ids(objs, 'cert', 'pkcs11-tool -O before login', res.stdout)
        expect_ids(objs, 'pubkey', 'pkcs11-tool -O before login', res.stdout)
        labels = sorted(o.get('label') for o in objs if o['kind'] == 'cert')
        want = sorted(k['cert_label'] for k in h.DEMO_KEYS)
        check(labels == want, 'certificate labels %s, expected %s'
              % (labels, want))
        for k in h.DEMO_KEYS:
            pub = [o for o in objs if o['kind'] == 'pubkey' and
                   o.get('ID') == '%02x' % k['id']][0]
            kind = 'RSA %d bits' % k['bits'] if k['type'] == 'rsa' else \
                'EC  EC_POINT %d bits' % k['bits']
            check(kind in pub['head'], 'public key %02x: expected "%s" in '
                  '"%s"' % (k['id'], kind, pub['head']))
        log('before login: 4 certificates, 4 public keys (%s)'
            % ', '.join(labels))

        # After login: the private keys too.
        res = h.tool(env, '--login', '--pin', h.PIN, '-O',
                     what='pkcs11-tool --login -O')
        objs = h.parse_objects(res.stdout)
        expect_objects(objs, {'cert': 4, 'pubkey': 4, 'privkey': 4},
                       'pkcs11-tool --login -O', res.stdout)
        for kind in ('cert', 'pubkey', 'privkey'):
            expect_ids(objs, kind, 'pkcs11-tool --login -O', res.stdout)
        for o in objs:
            if o['kind'] != 'privkey':
                continue
            access = o.get('Access', '')
            check('sensitive' in access and 'never extractable' in access,
                  'private key %s is not sensitive and never extractable '
                  '(Access: %s)' % (o.get('ID'), access))
            always = 'always authenticate' in access
            check(always == (o.get('ID') == '%02x' % h.ALWAYS_AUTH_ID),
                  'private key %s: "always authenticate" %s, but only 9C '
                  '(id %02x) has PIN-always' % (o.get('ID'), 'set' if always
                                                else 'missing', h.ALWAYS_AUTH_ID))
        log('after login: 4 certificates, 4 public keys, 4 private keys')

        # --test: pkcs11-tool's own self-test of digests, signatures,
        # verification and decryption. It must have found the keys: a
        # module listing no private key "passes" vacuously.
        res = h.tool(env, '--login', '--pin', h.PIN, '--test',
                     what='pkcs11-tool --login --test', timeout=120)
        out = res.stdout
        check('No errors' in out and not re.search(r'\d+ errors', out),
              'pkcs11-tool --test reports errors:\n' + res.describe())
        sig = out.split('Signatures', 1)[-1].split('Verify', 1)[0]
        tested = re.findall(r'testing key (\d+) \(([^)]*)\)', sig)
        check(len(tested) == 4, 'pkcs11-tool --test tried %d keys for '
              'signatures, expected 4:\n%s' % (len(tested), out))
        for mech in ('RSA-PKCS', 'SHA256-RSA-PKCS'):
            check(re.search(r'^\s+%s: OK$' % mech, sig, re.M),
                  'pkcs11-tool --test did not sign with %s:\n%s' % (mech, out))
        dec = out.split('Decryption', 1)[-1]
        n_ok = len(re.findall(r'^\s+RSA-PKCS: OK$', dec, re.M))
        check(n_ok == 2, 'pkcs11-tool --test decrypted with RSA-PKCS on %d '
              'keys, expected 2 (9A and 9D):\n%s' % (n_ok, out))
        log('pkcs11-tool --test: no errors, %d keys tried (%.2f s)'
            % (len(tested), res.elapsed))


rig.main(test)
