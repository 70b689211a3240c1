#!/usr/bin/python3
"""Issue 3, acceptance: generating a key on the card, writing a
certificate for it and signing with it, all through pkcs11-tool.

For an EC P-256 key in retired slot 82 (id 05), an RSA-2048 key in retired
slot 83 (id 06) and an EC P-384 key replacing the RSA key of 9D (id 03):
`--keypairgen` (with `--read-object --type pubkey` in the same run: a PIV
card cannot give a public key back later), a certificate for the new key
from a CA of the test's own made by OpenSSL, `--write-object --type cert`,
then, in new processes, the objects are listed, the certificate reads
back byte for byte, `--sign` makes signatures OpenSSL verifies with the
certificate; all of it again after the card was pulled out and put back.
Finally `--delete-object --type cert` removes a certificate."""

import os

import piv_helpers as h
from piv_helpers import check, log, rig

# (CKA_ID, pkcs11-tool --key-type, pkcs11-tool mechanism, OpenSSL digest)
NEW_KEYS = [
    ('05', 'EC:prime256v1', 'ECDSA-SHA256', 'sha256'),
    ('06', 'rsa:2048', 'SHA256-RSA-PKCS', 'sha256'),
    ('03', 'EC:secp384r1', 'ECDSA-SHA384', 'sha384'),
]


# SubjectPublicKeyInfo up to the point (RFC 5480): id-ecPublicKey and the
# curve.
SPKI_PREFIX = {
    'EC:prime256v1': '3059301306072a8648ce3d020106082a8648ce3d030107034200',
    'EC:secp384r1': '3076301006072a8648ce3d020106052b81040022036200',
}


def ec_spki(key_type, ec_point_hex):
    """DER SPKI from CKA_EC_POINT (a DER OCTET STRING) as pkcs11-tool
    prints it."""
    raw = bytes.fromhex(ec_point_hex)
    check(len(raw) > 2 and raw[0] == 0x04 and raw[1] == len(raw) - 2 and
          raw[2] == 0x04, 'CKA_EC_POINT of the new %s key is not a DER '
          'OCTET STRING with an uncompressed point: %s' % (key_type,
                                                          ec_point_hex))
    return bytes.fromhex(SPKI_PREFIX[key_type]) + raw[2:]


def login(*args):
    return ('--login', '--pin', h.PIN) + args


def objects_by_id(env, key_id, logged_in=True):
    args = login('-O') if logged_in else ('-O',)
    res = h.tool(env, *args, what='pkcs11-tool -O')
    return [o for o in h.parse_objects(res.stdout) if o.get('ID') == key_id], \
        res.stdout


def sign_and_verify(env, work, key_id, mech, digest, cert_pub, when):
    data = h.write(os.path.join(work, 'data-%s' % key_id),
                   b'signed by a key made on the card ' + os.urandom(20))
    sig = os.path.join(work, 'sig-%s' % key_id)
    if os.path.exists(sig):
        os.unlink(sig)
    args = login('--sign', '--id', key_id, '-m', mech, '-i', data, '-o', sig)
    if mech.startswith('ECDSA'):
        args += ('--signature-format', 'openssl')
    h.tool(env, *args, what='pkcs11-tool --sign with key %s (%s) %s'
           % (key_id, mech, when))
    res = rig.run(['openssl', 'dgst', '-' + digest, '-verify', cert_pub,
                   '-signature', sig, data], env=env)
    check(res.returncode == 0 and 'Verified OK' in res.stdout,
          'key %s %s: OpenSSL does not verify the %s signature with the '
          'written certificate:\n%s' % (key_id, when, mech, res.describe()))


def test():
    work = h.workdir('keygen')
    with rig.Rig(readers=2) as r:
        env = r.env
        card, state, _ = h.start_demo_card(r, work)

        # The test's own CA.
        ca_key = os.path.join(work, 'ca.key')
        ca = os.path.join(work, 'ca.pem')
        h.openssl(env, 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca_key,
                  '-out', ca, '-subj', '/CN=kyso keygen test CA', '-days', '30')

        made = {}
        for key_id, key_type, mech, digest in NEW_KEYS:
            pub_der = os.path.join(work, 'pub-%s.der' % key_id)
            args = ['--keypairgen', '--key-type', key_type, '--id', key_id]
            if key_type.startswith('rsa'):
                # pkcs11-tool prints no modulus: read the key in the same
                # run (the next process cannot, without a certificate).
                args += ['--read-object', '--type', 'pubkey', '-o', pub_der]
            res = h.tool(env, *login(*args), timeout=120,
                         what='pkcs11-tool --keypairgen --key-type %s --id %s'
                         % (key_type, key_id))
            new = [o for o in h.parse_objects(res.stdout)
                   if o.get('ID') == key_id]
            check(sorted(o['kind'] for o in new) == ['privkey', 'pubkey'],
                  '--keypairgen --id %s did not show a new key pair with that '
                  'id:\n%s' % (key_id, res.stdout))
            if key_type.startswith('EC'):
                # pkcs11-tool 0.23 --read-object fails on P-384 public keys
                # ("cannot create EVP_PKEY", with OpenSC's module too): take
                # the CKA_EC_POINT --keypairgen printed.
                pub = [o for o in new if o['kind'] == 'pubkey'][0]
                h.write(pub_der, ec_spki(key_type, pub.get('EC_POINT', '')))
            check(os.path.exists(pub_der) and os.path.getsize(pub_der) > 60,
                  'no public key for the new key %s' % key_id)
            pub_pem = os.path.join(work, 'pub-%s.pem' % key_id)
            h.openssl(env, 'pkey', '-pubin', '-inform', 'DER', '-in', pub_der,
                      '-out', pub_pem, what='parsing the public key of the '
                      'new key %s' % key_id)
            text = h.openssl(env, 'pkey', '-pubin', '-in', pub_pem, '-text',
                             '-noout').stdout
            want = {'EC:prime256v1': 'P-256', 'EC:secp384r1': 'P-384',
                    'rsa:2048': '2048 bit'}[key_type]
            check(want in text, 'the new key %s is not %s:\n%s'
                  % (key_id, key_type, text))

            cert = os.path.join(work, 'cert-%s.der' % key_id)
            h.openssl(env, 'x509', '-new', '-force_pubkey', pub_pem, '-subj',
                      '/CN=kyso generated key %s' % key_id, '-CA', ca,
                      '-CAkey', ca_key, '-days', '30', '-outform', 'DER',
                      '-out', cert, what='issuing a certificate for key %s'
                      % key_id)
            h.tool(env, *login('--write-object', cert, '--type', 'cert',
                               '--id', key_id),
                   what='pkcs11-tool --write-object %s --type cert --id %s'
                   % (cert, key_id))
            made[key_id] = cert
            log('key %s: %s generated on the card, certificate written'
                % (key_id, key_type))

        def check_all(when):
            for key_id, key_type, mech, digest in NEW_KEYS:
                objs, listing = objects_by_id(env, key_id)
                kinds = sorted(o['kind'] for o in objs)
                check(kinds == ['cert', 'privkey', 'pubkey'],
                      '%s, pkcs11-tool -O shows %s for id %s, expected a '
                      'certificate, a public and a private key:\n%s'
                      % (when, kinds, key_id, listing))
                subject = [o for o in objs if o['kind'] == 'cert'][0]
                check('kyso generated key %s' % key_id in
                      subject.get('subject', ''), '%s, the certificate %s has '
                      'subject %r' % (when, key_id, subject.get('subject')))
                back = os.path.join(work, 'back-%s.der' % key_id)
                h.tool(env, '--read-object', '--type', 'cert', '--id', key_id,
                       '-o', back, what='pkcs11-tool --read-object --type '
                       'cert --id %s' % key_id)
                check(h.read(back) == h.read(made[key_id]), '%s, the '
                      'certificate read back from id %s differs from the one '
                      'written' % (when, key_id))
                cert_pub = h.cert_pubkey(env, made[key_id], os.path.join(
                    work, 'certpub-%s.pem' % key_id))
                sign_and_verify(env, work, key_id, mech, digest, cert_pub,
                                when)
            log('%s: the 3 keys are listed with their certificates, which '
                'read back intact; OpenSSL verifies their signatures' % when)

        check_all('in new processes')
        card = h.restart_card(r, card, state)
        check_all('after the card restarted')

        # The demo key in 9A is untouched.
        objs, listing = objects_by_id(env, '01')
        check(len(objs) == 3, 'the demo key 01 is gone after key generation '
              'in other slots:\n' + listing)

        # C_DestroyObject of a certificate.
        h.tool(env, *login('--delete-object', '--type', 'cert', '--id', '06'),
               what='pkcs11-tool --delete-object --type cert --id 06')
        objs, listing = objects_by_id(env, '06')
        check(not [o for o in objs if o['kind'] == 'cert'],
              'the certificate 06 is still listed after --delete-object:\n'
              + listing)
        card = h.restart_card(r, card, state)
        objs, listing = objects_by_id(env, '06')
        check(not [o for o in objs if o['kind'] == 'cert'],
              'the certificate 06 is back after a card restart:\n' + listing)
        objs, listing = objects_by_id(env, '05')
        check(len(objs) == 3, 'deleting certificate 06 lost key 05:\n'
              + listing)
        log('--delete-object --type cert --id 06: gone, and stays gone')


rig.main(test)
