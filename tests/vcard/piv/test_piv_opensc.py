#!/usr/bin/python3
"""The virtual PIV card is faithful enough for OpenSC's own module.

kyso-vcard --type piv --provision demo in a private pcscd (the rig of
tests/integration), then OpenSC 0.23's opensc-pkcs11.so through
pkcs11-tool: the token and its 4 certificates are listed, --login --test
passes, every key signs and OpenSSL verifies the signature with the key's
certificate, the certificates chain to the demo CA, ECDH with 9E agrees
with OpenSSL's, and a wrong PIN is refused and counted.

OpenSC keeps no file cache here (a private OPENSC_CONF), so every run reads
the card."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('KYSO_SOURCE_DIR',
                            os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'integration'))

import rig  # noqa: E402

PIN = '123456'
# CKA_ID as OpenSC's PIV emulation gives them: 01 9A, 02 9C, 03 9D, 04 9E.
KEYS = [
    ('01', '9A', 'SHA256-RSA-PKCS', '-sha256', []),
    ('02', '9C', 'ECDSA-SHA256', '-sha256', ['--signature-format', 'openssl']),
    ('03', '9D', 'SHA256-RSA-PKCS', '-sha256', []),
    ('04', '9E', 'ECDSA-SHA384', '-sha384', ['--signature-format', 'openssl']),
]


def opensc(env, *args, timeout=60):
    return rig.pkcs11_tool(rig.OPENSC_MODULE, *args, env=env, timeout=timeout)


def openssl(*args, timeout=30):
    return rig.run(['openssl'] + list(args), timeout=timeout)


def test():
    if not os.path.exists(rig.OPENSC_MODULE):
        rig.skip('%s is not installed' % rig.OPENSC_MODULE)
    with rig.Rig(readers=2) as r:
        work = r.dir
        env = rig.opensc_env(r)
        state = os.path.join(work, 'piv.state')
        # Three RSA-2048 keys and a P-384 key are made on first start.
        r.start_card(0, 'piv', state=state, provision='demo', timeout=30)
        ca = state + '.ca.pem'
        rig.check(os.path.exists(ca), 'the demo CA was not written to ' + ca)

        res = opensc(env, '-L')
        rig.check(res.returncode == 0, 'pkcs11-tool -L:\n' + res.describe())
        rig.check('token label' in res.stdout,
                  'OpenSC shows no token on the PIV card:\n' + res.stdout)

        res = opensc(env, '-O')
        rig.check(res.returncode == 0, 'pkcs11-tool -O:\n' + res.describe())
        certs = res.stdout.count('Certificate Object')
        rig.check(certs == 4, 'OpenSC lists %d certificates, not 4:\n%s'
                  % (certs, res.stdout))

        res = opensc(env, '--login', '--pin', PIN, '--test', timeout=120)
        rig.check(res.returncode == 0 and 'No errors' in res.stdout,
                  'pkcs11-tool --login --test:\n' + res.describe())
        rig.log('OpenSC --login --test: no errors')

        msg = os.path.join(work, 'msg')
        with open(msg, 'wb') as f:
            f.write(b'signed by the virtual PIV card through OpenSC\n')
        for kid, slot, mech, digest, fmt in KEYS:
            der = os.path.join(work, 'cert%s.der' % kid)
            pem = os.path.join(work, 'cert%s.pem' % kid)
            pub = os.path.join(work, 'pub%s.pem' % kid)
            sig = os.path.join(work, 'sig%s' % kid)
            res = opensc(env, '--read-object', '--type', 'cert', '--id', kid,
                         '-o', der)
            rig.check(res.returncode == 0, 'reading the %s certificate:\n%s'
                      % (slot, res.describe()))
            res = openssl('x509', '-inform', 'der', '-in', der, '-out', pem)
            rig.check(res.returncode == 0, res.describe())
            res = openssl('verify', '-CAfile', ca, pem)
            rig.check(res.returncode == 0, 'the %s certificate does not '
                      'chain to the demo CA:\n%s' % (slot, res.describe()))
            res = openssl('x509', '-in', pem, '-pubkey', '-noout', '-out', pub)
            rig.check(res.returncode == 0, res.describe())
            res = opensc(env, '--login', '--pin', PIN, '--sign', '--id', kid,
                         '-m', mech, *fmt, '-i', msg, '-o', sig)
            rig.check(res.returncode == 0, 'signing with %s (%s):\n%s'
                      % (slot, mech, res.describe()))
            res = openssl('dgst', digest, '-verify', pub, '-signature', sig,
                          msg)
            rig.check(res.returncode == 0 and 'Verified OK' in res.stdout,
                      'OpenSSL does not verify the %s signature:\n%s'
                      % (slot, res.describe()))
            rig.log('%s (%s): signed through OpenSC, verified by OpenSSL'
                    % (slot, mech))

        # ECDH with 9E (PIN policy never) against an OpenSSL key.
        peer = os.path.join(work, 'peer.pem')
        peer_der = os.path.join(work, 'peer.der')
        z_card = os.path.join(work, 'z.card')
        z_ossl = os.path.join(work, 'z.ossl')
        for args in (['genpkey', '-algorithm', 'EC', '-pkeyopt',
                      'ec_paramgen_curve:P-384', '-out', peer],
                     ['pkey', '-in', peer, '-pubout', '-outform', 'der',
                      '-out', peer_der],
                     ['pkeyutl', '-derive', '-inkey', peer, '-peerkey',
                      os.path.join(work, 'pub04.pem'), '-out', z_ossl]):
            res = openssl(*args)
            rig.check(res.returncode == 0, res.describe())
        res = opensc(env, '--login', '--pin', PIN, '--derive', '--id', '04',
                     '-m', 'ECDH1-DERIVE', '-i', peer_der, '-o', z_card)
        rig.check(res.returncode == 0, 'ECDH with 9E:\n' + res.describe())
        with open(z_card, 'rb') as a, open(z_ossl, 'rb') as b:
            rig.check(a.read() == b.read(), 'ECDH with 9E disagrees with '
                      'OpenSSL')
        rig.log('9E ECDH agrees with OpenSSL')

        # A wrong PIN is refused and counted; the right one resets it.
        res = opensc(env, '--login', '--pin', '999999', '-O')
        rig.check(res.returncode != 0 and 'CKR_PIN_INCORRECT' in
                  res.stdout + res.stderr,
                  'a wrong PIN was not refused:\n' + res.describe())
        res = r.transmit(0, ['00A4040009A00000030800001000',
                             '0020008000'])
        rig.check(res[-1][-2:] == b'\x63\xc2', 'after one wrong PIN the card '
                  'says %s, not 63C2' % res[-1].hex())
        res = opensc(env, '--login', '--pin', PIN, '-O')
        rig.check(res.returncode == 0, 'the right PIN after a wrong one:\n'
                  + res.describe())


rig.main(test)
