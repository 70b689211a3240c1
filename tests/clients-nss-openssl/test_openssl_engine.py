#!/usr/bin/python3
"""Issue 6: OpenSSL 3 with libp11's engine (Debian's
libengine-pkcs11-openssl) uses kyso's keys through RFC 7512 `pkcs11:`
URIs, configured as its users do it: a private openssl.cnf that loads the
engine with MODULE_PATH = kyso (OPENSSL_CONF).

- `openssl dgst -sha256 -sign "pkcs11:...;id=%01" -engine pkcs11 -keyform
  engine` signs a file with the RSA key of 9A, and with the EC P-384 key
  of 9E; check: `openssl dgst -sha256 -verify` with the public key of the
  slot's certificate prints "Verified OK" (the certificate is read off the
  card with pkcs11-tool and must verify against the demo CA).
- `openssl s_client -engine pkcs11 -keyform engine -key "pkcs11:..."
  -cert CERT` authenticates to `openssl s_server -Verify 1
  -verify_return_error` with 9A (TLS 1.3 and TLS 1.2) and 9E (TLS 1.3);
  check: the server's page shows the protocol and the client certificate
  with the slot's CN, which verifies against the demo CA.
"""

import os
import urllib.parse

import clients_helpers as c
from clients_helpers import check, h, log, rig

ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so'


def key_uri(token, key_id, pin=True):
    # RFC 7512: percent-encode outside the unreserved set (the token label
    # has blanks and '#').
    u = ('pkcs11:token=%s;id=%%%02X;type=private'
         % (urllib.parse.quote(token, safe=''), key_id))
    return u + (';pin-value=%s' % c.PIN if pin else '')


def test():
    if not os.path.exists(ENGINE):
        rig.skip('%s is not installed (libengine-pkcs11-openssl)' % ENGINE)
    work = h.workdir('clients-openssl')
    with rig.Rig(readers=2) as r:
        _, _, ca = h.start_demo_card(r, work)
        token = c.token_label(r)
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

        # The certificates: pkcs11-tool reads them, and `openssl verify`
        # against the demo CA proves they are the card's.
        certs = {}
        for key_id, cn in ((c.AUTH_ID, c.AUTH_CN),
                           (c.CARD_AUTH_ID, c.CARD_AUTH_CN)):
            der = os.path.join(work, 'cert-%02x.der' % key_id)
            h.tool(r.env, '--read-object', '--type', 'cert', '--id',
                   '%02x' % key_id, '-o', der,
                   what='reading certificate %02X' % key_id)
            pem = os.path.join(work, 'cert-%02x.pem' % key_id)
            h.openssl(r.env, 'x509', '-inform', 'DER', '-in', der, '-out', pem)
            h.verify_chain(r.env, der, ca, 'certificate %02X' % key_id)
            pub = h.cert_pubkey(r.env, der, os.path.join(
                work, 'pub-%02x.pem' % key_id))
            certs[key_id] = (pem, pub, cn)

        # openssl dgst -sign with the card, -verify with the certificate.
        data = h.write(os.path.join(work, 'data.txt'),
                       'kyso issue 6: signed by OpenSSL through libp11\n')
        for key_id in (c.AUTH_ID, c.CARD_AUTH_ID):
            what = 'openssl dgst -sha256 -sign key %02X' % key_id
            sig = os.path.join(work, 'sig-%02x.bin' % key_id)
            # setsid: no terminal for a PIN prompt (the PIN is in the URI).
            h.run_ok(['setsid', '-w', 'openssl', 'dgst', '-sha256',
                      '-engine', 'pkcs11', '-keyform', 'engine', '-sign',
                      key_uri(token, key_id), '-out', sig, data], env, what,
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
        for key_id, flag, protocol in ((c.AUTH_ID, '-tls1_3', 'TLSv1.3'),
                                       (c.AUTH_ID, '-tls1_2', 'TLSv1.2'),
                                       (c.CARD_AUTH_ID, '-tls1_3',
                                        'TLSv1.3')):
            what = 'openssl s_client key %02X %s' % (key_id, protocol)
            with c.TlsServer(r, work, ca, cert, key,
                             name='server-%02x%s' % (key_id, flag)) as srv:
                # -ign_eof: send the request, then wait for the page until
                # the server closes the connection.
                res = h.run_ok(['setsid', '-w', 'openssl', 's_client',
                                '-connect', '127.0.0.1:%d' % srv.port, flag,
                                '-engine', 'pkcs11', '-keyform', 'engine',
                                '-key', key_uri(token, key_id),
                                '-cert', certs[key_id][0], '-CAfile', cert,
                                '-verify_return_error', '-ign_eof'],
                               env, what, input=c.HTTP_REQUEST)
                c.check_client_auth_page(res.stdout, ca, certs[key_id][2],
                                         protocol, work, what, r.env)


rig.main(test)
