#!/usr/bin/python3
"""Issue 3, acceptance: OpenSSL with libp11's engine (Debian's
libengine-pkcs11-openssl) uses kyso through RFC 7512 `pkcs11:` URIs.

`openssl req -new -engine pkcs11 -keyform engine -key "pkcs11:..."` makes
a CSR with the RSA key of 9A (PKCS#1 v1.5 and RSA-PSS) and the EC key of
9E, and with 9C, whose PIN-always libp11 answers with a context-specific
login; `openssl req -verify` accepts each, and each CSR carries the public
key of the slot's certificate. The engine is configured the way its users
do it: a private openssl.cnf with MODULE_PATH, through OPENSSL_CONF."""

import os
import urllib.parse

import piv_helpers as h
from piv_helpers import check, log, rig

ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so'


def uri(token, key_id):
    # RFC 7512: path attributes, percent-encoding outside the unreserved
    # set (the label has blanks and '#').
    return ('pkcs11:token=%s;id=%%%02X;type=private;pin-value=%s'
            % (urllib.parse.quote(token, safe=''), key_id, h.PIN))


def test():
    if not os.path.exists(ENGINE):
        rig.skip('%s is not installed (libengine-pkcs11-openssl)' % ENGINE)
    work = h.workdir('libp11')
    with rig.Rig(readers=2) as r:
        h.start_demo_card(r, work)
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
                       'init = 0\n' % (ENGINE, h.MODULE))
        env = dict(r.env)
        env['OPENSSL_CONF'] = conf

        res = h.tool(r.env, '-L', what='pkcs11-tool -L')
        slot = next(s for s in rig.parse_slots(res.stdout)
                    if s['description'] == r.reader_name(0))
        token = slot['token']['token label']

        cases = [
            (0x01, 'RSA PKCS#1 v1.5', []),
            (0x01, 'RSA-PSS', ['-sigopt', 'rsa_padding_mode:pss',
                               '-sigopt', 'rsa_pss_saltlen:32']),
            (0x04, 'ECDSA P-384', []),
            (0x02, 'ECDSA P-256, PIN always', []),
        ]
        for key_id, name, opts in cases:
            what = 'CSR signed by key %02X (%s) through libp11' % (key_id, name)
            csr = os.path.join(work, 'csr-%02x-%d.pem' % (key_id, len(opts)))
            key = uri(token, key_id)
            # libp11 asks for the PIN of a PIN-always key through
            # OpenSSL's UI, which reads /dev/tty, or stdin when there is
            # no terminal: setsid makes sure there is none.
            h.run_ok(['setsid', '-w', 'openssl', 'req', '-new', '-engine',
                      'pkcs11', '-keyform', 'engine', '-key', key, '-subj',
                      '/CN=kyso libp11 test %02X' % key_id, '-sha256', '-out',
                      csr] + opts, env, what, input=h.PIN + '\n')
            res = rig.run(['openssl', 'req', '-verify', '-in', csr, '-noout'],
                          env=env)
            check(res.returncode == 0 and 'verify OK' in res.stdout +
                  res.stderr, '%s: openssl req -verify refuses it:\n%s'
                  % (what, res.describe()))
            text = h.openssl(env, 'req', '-in', csr, '-noout', '-text').stdout
            if opts:
                check('rsassaPss' in text, '%s: the CSR is not signed with '
                      'RSA-PSS:\n%s' % (what, text))
            # The key that signed is the slot's: the CSR's public key is
            # the certificate's.
            csr_pub = h.openssl(env, 'req', '-in', csr, '-noout',
                                '-pubkey').stdout
            cert = os.path.join(work, 'cert-%02x.der' % key_id)
            h.tool(r.env, '--read-object', '--type', 'cert', '--id',
                   '%02x' % key_id, '-o', cert, what='reading certificate %02X'
                   % key_id)
            cert_pub = h.read(h.cert_pubkey(env, cert, cert + '.pub.pem'))
            check(csr_pub.strip() == cert_pub.decode().strip(), '%s: the CSR '
                  'holds another public key than certificate %02X'
                  % (what, key_id))
            log('%s: openssl req -verify OK' % what)


rig.main(test)
