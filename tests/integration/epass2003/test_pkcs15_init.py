#!/usr/bin/python3
"""Issue 4, acceptance: a BLANK virtual ePass2003 (no --provision)
personalised by OpenSC's own pkcs15-init: erased, the PKCS#15 application
created (profile pkcs15+onepin), an RSA-2048 and an EC P-256 key pair
generated on the token. kyso then lists both key pairs (the EC key with
CKA_EC_PARAMS naming prime256v1), `pkcs11-tool --login --test` passes, and
OpenSSL verifies kyso's ECDSA-SHA256 and SHA256-RSA-PKCS signatures with
the public keys as OpenSC reads them from the token (not as kyso does)."""

import os

import ep_helpers as h
from ep_helpers import check, log, rig

# The DER OID of prime256v1 (RFC 5480 2.1.1.1), as CKA_EC_PARAMS holds it.
P256_OID = '06082a8648ce3d030107'


def personalise(env):
    """What the vcard's own OpenSC test runs (test_epass2003_opensc.py)."""
    for args in (['pkcs15-init', '-r', '0', '--erase-card'],
                 ['pkcs15-init', '-r', '0', '--create-pkcs15', '-p', 'pkcs15+onepin',
                  '--pin', h.PIN, '--puk', h.SO_PIN, '--label', 'made by pkcs15-init'],
                 ['pkcs15-init', '-r', '0', '--generate-key', 'rsa/2048', '--auth-id', '01',
                  '--pin', h.PIN, '--label', 'gen-rsa'],
                 ['pkcs15-init', '-r', '0', '--generate-key', 'ec/prime256v1',
                  '--auth-id', '01', '--pin', h.PIN, '--label', 'gen-ec']):
        h.run_ok(args, env, ' '.join(args), timeout=120)


def opensc_pubkey(oenv, work, label):
    """The public key `label` as OpenSC reads it, as a PEM file."""
    der = os.path.join(work, '%s.der' % label)
    pem = os.path.join(work, '%s.pem' % label)
    h.tool(oenv, '--read-object', '--type', 'pubkey', '--label', label, '-o', der,
           module=h.OPENSC_MODULE, what='OpenSC reading public key %s' % label)
    h.openssl(oenv, 'pkey', '-pubin', '-inform', 'der', '-in', der, '-out', pem,
              what='OpenSSL reading %s' % label)
    return pem


def test():
    work = h.workdir('ep-p15init')
    with rig.Rig(readers=2) as r:
        r.start_card(0, 'epass2003', state=os.path.join(work, 'blank.state'))
        # OpenSC's programs are not kyso's to sanitize: pkcs11-tool 0.23
        # reads freed memory when it exports an EC public key (seen with
        # the ASan runtime preloaded), so they run without it.
        oenv = rig.without_preload(h.opensc_env(r, work))
        env = r.env
        personalise(oenv)
        log('pkcs15-init: erased, PKCS#15 created, RSA-2048 and P-256 generated')

        objs, listing = h.objects(env, what='pkcs11-tool -O before login')
        counts = h.count_kinds(objs)
        check(counts.get('pubkey') == 2 and counts.get('privkey', 0) == 0,
              'before login: %s\n%s' % (counts, listing))
        objs, listing = h.objects(env, '--login', '--pin', h.PIN,
                                  what='pkcs11-tool --login -O')
        counts = h.count_kinds(objs)
        check(counts.get('pubkey') == 2 and counts.get('privkey') == 2,
              'after login: %s\n%s' % (counts, listing))
        by_label = {}
        for o in objs:
            by_label.setdefault(o.get('label'), []).append(o)
        check(set(by_label) >= {'gen-rsa', 'gen-ec'},
              'labels %s\n%s' % (sorted(by_label, key=str), listing))
        ec_id = by_label['gen-ec'][0]['ID']
        rsa_id = by_label['gen-rsa'][0]['ID']
        check(all(o['ID'] == ec_id for o in by_label['gen-ec']) and
              all(o['ID'] == rsa_id for o in by_label['gen-rsa']) and ec_id != rsa_id,
              'each key pair should share one iD:\n%s' % listing)
        ec_blocks = [b for b in listing.split('Object;') if 'gen-ec' in b]
        check(len(ec_blocks) == 2 and all(b.lstrip().startswith('EC') for b in ec_blocks) and
              any(P256_OID in b for b in ec_blocks),
              'the P-256 key pair is not shown as EC prime256v1:\n%s' % listing)
        log('kyso lists RSA-2048 %s and EC P-256 %s (public and private)' % (rsa_id, ec_id))

        res = h.tool(env, '-M', what='pkcs11-tool -M')
        for mech in ('ECDSA,', 'ECDSA-SHA256'):
            check(mech in res.stdout, '%s not among the mechanisms:\n%s' % (mech, res.stdout))
        check('EC F_P' in res.stdout or 'ec_fp' in res.stdout.lower() or
              'F_P' in res.stdout, 'no EC flags on ECDSA:\n%s' % res.stdout)

        res = h.tool(env, '--login', '--pin', h.PIN, '--test', timeout=180,
                     what='pkcs11-tool --login --test')
        check('No errors' in res.stdout, 'pkcs11-tool --test:\n%s' % res.describe())
        log('pkcs11-tool --login --test: no errors')

        data = h.write(os.path.join(work, 'data.txt'), 'Hợp đồng số 43/2026\n')
        ec_pem = opensc_pubkey(oenv, work, 'gen-ec')
        rsa_pem = opensc_pubkey(oenv, work, 'gen-rsa')
        for mech, key_id, pem in (('ECDSA-SHA256', ec_id, ec_pem),
                                  ('SHA256-RSA-PKCS', rsa_id, rsa_pem)):
            sig = os.path.join(work, 'sig-%s' % mech)
            args = ['--login', '--pin', h.PIN, '--sign', '--id', key_id, '-m', mech,
                    '--input-file', data, '--output-file', sig]
            if mech.startswith('ECDSA'):
                args[4:4] = ['--signature-format', 'openssl']
            h.tool(env, *args, what='kyso signing with %s' % mech)
            h.openssl(env, 'dgst', '-sha256', '-verify', pem, '-signature', sig, data,
                      what='OpenSSL verifying the %s signature' % mech)
            log('%s by kyso verifies with the key OpenSC reads' % mech)

        # CKM_ECDSA on a hash the caller made: r || s, 64 bytes.
        hash_file = os.path.join(work, 'hash.bin')
        res = h.openssl(env, 'dgst', '-sha256', '-binary', '-out', hash_file, data,
                        what='hashing')
        sig = os.path.join(work, 'sig-raw')
        h.tool(env, '--login', '--pin', h.PIN, '--sign', '--id', ec_id, '-m', 'ECDSA',
               '--input-file', hash_file, '--output-file', sig, what='kyso CKM_ECDSA')
        check(os.path.getsize(sig) == 64, 'CKM_ECDSA gave %d bytes, not r||s (64)'
              % os.path.getsize(sig))
        log('CKM_ECDSA: r || s, 64 bytes')


if __name__ == '__main__':
    rig.main(test)
