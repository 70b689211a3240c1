#!/usr/bin/python3
"""Issue 6: libp11's C API, what integrators link, uses kyso.

libp11-client (libp11_client.c, built by meson against libp11 and
OpenSSL) loads kyso with PKCS11_CTX_load, enumerates the slots, finds the
card's token in reader 0, logs in with PKCS11_login, enumerates the
certificates and private keys, and for the card's signing key (PIV: 9A,
RSA-2048, and 9E, EC P-384; ePass2003 vendor layout: the RSA-2048 key of
"NGUYỄN VĂN AN", 20-byte CKA_ID) signs a message with EVP_DigestSign on the EVP_PKEY that
PKCS11_get_private_key returns, and verifies it with EVP_DigestVerify and
the certificate's public key.

The card is the profile named on the command line (card_profiles.py).
Checks: the program's listing shows the card's certificates (by CKA_ID
and label; on the PIV card also the subject) and as many private keys, and then, independently of kyso and
libp11, each certificate it wrote verifies against the demo CA (`openssl
verify`) and `openssl dgst -sha256 -verify` with its public key says
"Verified OK" for the signature the card made.
"""

import os

import clients_helpers as c
from clients_helpers import check, h, log, rig

CLIENT = os.path.join(rig.BUILD_DIR, 'tests', 'clients-nss-openssl', 'libp11-client')


def test():
    if not os.access(CLIENT, os.X_OK):
        rig.fail('%s is not built (libp11-dev missing?)' % CLIENT)
    profile = c.cp.profile_name()
    work = h.workdir('clients-libp11-%s' % profile)
    with rig.Rig(readers=2) as r:
        card = c.cp.start(r, work, profile)
        ca = card.ca
        ids = [card.key_id]
        if profile == 'piv':
            ids.append(card.ids[c.CARD_AUTH_LABEL])     # 9E: EC P-384
        res = h.run_ok([CLIENT, c.MODULE, r.reader_name(0), card.pin, work] +
                       ids, r.env, 'libp11-client')
        log(res.stdout.rstrip())
        out = res.stdout
        for label in card.cert_labels:
            line = 'certificate id %s "%s": ' % (card.ids[label], label)
            if profile == 'piv':
                ref = next(k['ref'] for k in h.DEMO_KEYS
                           if k['cert_label'] == label)
                line += '/O=kyso/CN=kyso demo %02X' % ref
            check(line in out, 'libp11-client does not list %r:\n%s'
                  % (line, out))
            check('private key id %s ' % card.ids[label] in out,
                  'libp11-client lists no private key %s:\n%s'
                  % (card.ids[label], out))
        n = len(card.cert_labels)
        check('%d certificates, %d private keys' % (n, n) in out,
              'libp11-client does not find exactly %d certificates and %d '
              'private keys:\n%s' % (n, n, out))

        message = os.path.join(work, 'libp11-message.txt')
        for key_id in ids:
            what = 'libp11 EVP_DigestSign with key %s' % key_id
            check('verified key %s' % key_id in out,
                  '%s: not verified by the program:\n%s' % (what, out))
            cert = os.path.join(work, 'libp11-%s.pem' % key_id)
            v = rig.run(['openssl', 'verify', '-CAfile', ca, cert], env=r.env)
            check(v.returncode == 0 and ': OK' in v.stdout,
                  '%s: the certificate libp11 found does not verify against '
                  'the demo CA:\n%s' % (what, v.describe()))
            pub = os.path.join(work, 'libp11-%s.pub.pem' % key_id)
            h.openssl(r.env, 'x509', '-in', cert, '-noout', '-pubkey', '-out',
                      pub)
            v = rig.run(['openssl', 'dgst', '-sha256', '-verify', pub,
                         '-signature', os.path.join(work, 'libp11-%s.sig'
                                                    % key_id), message],
                        env=r.env)
            check(v.returncode == 0 and 'Verified OK' in v.stdout,
                  '%s: openssl dgst -verify refuses the signature:\n%s'
                  % (what, v.describe()))
            log('%s: openssl dgst -verify: Verified OK' % what)


rig.main(test)
