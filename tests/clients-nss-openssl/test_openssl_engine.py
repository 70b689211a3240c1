#!/usr/bin/python3
"""Issue 6: OpenSSL 3 with libp11's engine (Debian's
libengine-pkcs11-openssl) uses kyso's keys through RFC 7512 `pkcs11:`
URIs, configured as its users do it: a private openssl.cnf that loads the
engine with MODULE_PATH = kyso (OPENSSL_CONF). The card is the profile
named on the command line (card_profiles.py): `piv` (keys 9A, RSA-2048,
and 9E, EC P-384, no PIN) or `epass2003` (Feitian's vendor layout: the
RSA-2048 key of "NGUYỄN VĂN AN", a 20-byte CKA_ID).

- `openssl dgst -sha256 -sign "pkcs11:...;id=%..." -engine pkcs11
  -keyform engine` signs a file with each key; check: `openssl dgst
  -sha256 -verify` with the public key of the key's certificate prints
  "Verified OK" (card_profiles reads the certificate and verifies it
  against the demo CA).
- `openssl s_client -engine pkcs11 -keyform engine -key "pkcs11:..."
  -cert CERT` authenticates to `openssl s_server -Verify 1
  -verify_return_error` with the signing key (TLS 1.3 and TLS 1.2) and,
  PIV only, 9E (TLS 1.3); check: the server's page shows the protocol and
  the client certificate with the key's CN, which verifies against the
  demo CA.
"""

import os
import urllib.parse

import clients_helpers as c
from clients_helpers import check, h, log, rig

ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so'


def key_uri(card, key_id):
    # RFC 7512: percent-encode outside the unreserved set (the token label
    # has blanks and '#').
    return ('pkcs11:token=%s;id=%s;type=private;pin-value=%s'
            % (urllib.parse.quote(card.token, safe=''), card.id_uri(key_id),
               card.pin))


def test():
    if not os.path.exists(ENGINE):
        rig.skip('%s is not installed (libengine-pkcs11-openssl)' % ENGINE)
    profile = c.cp.profile_name()
    work = h.workdir('clients-openssl-%s' % profile)
    with rig.Rig(readers=2) as r:
        card = c.cp.start(r, work, profile)
        ca = card.ca
        conf = h.write(os.path.join(work, 'openssl.cnf'),
                       'openssl_conf = openssl_init\n'
                       '[openssl_init]\n'
                       'engines = engine_section\n'
                       '[engine_section]\n'
                       'pkcs11 = pkcs11_section\n'
                       '[pkcs11_section]\n'
                       'engine_id = pkcs11\n'
                       'dynamic_path = %s\n'
                       'MODULE_PATH = %s\n'
                       'init = 0\n' % (ENGINE, c.MODULE))
        env = dict(r.env)
        env['OPENSSL_CONF'] = conf

        # The keys: {CKA_ID: (certificate PEM, public key PEM, CN)}, the
        # certificates read and verified against the demo CA by
        # card_profiles.
        labels = [card.cert_label]
        if profile == 'piv':
            labels.append(c.CARD_AUTH_LABEL)    # 9E: EC P-384, no PIN
        certs = {}
        for label in labels:
            key_id = card.ids[label]
            pub = h.write(os.path.join(work, 'pub-%s.pem' % key_id[:8]),
                          card.pubkey_pem(label))
            certs[key_id] = (card.certs[label], pub,
                             c.cp.cert_cn(r.env, card.certs[label]))
        ids = [card.ids[label] for label in labels]

        # openssl dgst -sign with the card, -verify with the certificate.
        data = h.write(os.path.join(work, 'data.txt'),
                       'kyso issue 6: signed by OpenSSL through libp11\n')
        for key_id in ids:
            what = 'openssl dgst -sha256 -sign key %s' % key_id
            sig = os.path.join(work, 'sig-%s.bin' % key_id[:8])
            # setsid: no terminal for a PIN prompt (the PIN is in the URI).
            h.run_ok(['setsid', '-w', 'openssl', 'dgst', '-sha256',
                      '-engine', 'pkcs11', '-keyform', 'engine', '-sign',
                      key_uri(card, key_id), '-out', sig, data], env, what,
                     input='')
            res = rig.run(['openssl', 'dgst', '-sha256', '-verify',
                           certs[key_id][1], '-signature', sig, data],
                          env=r.env)
            check(res.returncode == 0 and 'Verified OK' in res.stdout,
                  '%s: openssl dgst -verify with the certificate\'s public '
                  'key refuses the signature:\n%s' % (what, res.describe()))
            log('%s: openssl dgst -verify: Verified OK' % what)

        # TLS client authentication with openssl s_client.
        cert, key = c.server_cert(work, r.env)
        runs = [(ids[0], '-tls1_3', 'TLSv1.3'), (ids[0], '-tls1_2', 'TLSv1.2')]
        runs += [(i, '-tls1_3', 'TLSv1.3') for i in ids[1:]]
        for key_id, flag, protocol in runs:
            what = 'openssl s_client key %s %s' % (key_id, protocol)
            with c.TlsServer(r, work, ca, cert, key,
                             name='server-%s%s' % (key_id[:8], flag)) as srv:
                # -ign_eof: send the request, then wait for the page until
                # the server closes the connection.
                res = h.run_ok(['setsid', '-w', 'openssl', 's_client',
                                '-connect', '127.0.0.1:%d' % srv.port, flag,
                                '-engine', 'pkcs11', '-keyform', 'engine',
                                '-key', key_uri(card, key_id),
                                '-cert', certs[key_id][0], '-CAfile', cert,
                                '-verify_return_error', '-ign_eof'],
                               env, what, input=c.HTTP_REQUEST)
                c.check_client_auth_page(res.stdout, ca, certs[key_id][2],
                                         protocol, work, what, r.env)


rig.main(test)
