#!/usr/bin/python3
"""The virtual ePass2003 is the token OpenSC's epass2003 driver knows.

kyso-vcard --type epass2003 in a private pcscd (the rig of
tests/integration), then OpenSC 0.23's own tools and opensc-pkcs11.so:

- --provision pkcs15: opensc-tool -a shows the ATR; OpenSC runs its secure
  messaging against the card (mutual authentication, wrapped commands),
  reads the PKCS#15 tree, lists the key and the certificate after login,
  `pkcs11-tool --login --test` passes, a signature made through OpenSC
  verifies with OpenSSL against the certificate, which chains to the demo
  CA; a wrong PIN is refused and costs one try (5 of 6 left on the token,
  also after the card restarts from its --state file), the right one
  resets the counter.
- no --provision (a blank token): OpenSC's pkcs15-init erases it, creates
  the PKCS#15 application and generates an RSA-2048 and a P-256 key on
  it, `pkcs11-tool --login --test` passes on the result, and an
  ECDSA-SHA256 signature made through OpenSC verifies with OpenSSL.
- --provision vendor (Feitian ENTERSAFE-ESPK layout): OpenSC's driver
  matches and its secure messaging works (it reads the serial number), but
  it finds no PKCS#15 application: "token not recognized", no objects.

OpenSC keeps no file cache here (a private OPENSC_CONF)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('KYSO_SOURCE_DIR',
                            os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'integration'))

import rig  # noqa: E402

PIN = '12345678'
ATR_PKCS15 = '3b:9f:95:81:31:fe:9f:00:66:46:53:05:01:00:11:71:df:00:00:03:90:00:80'
ATR_VENDOR = '3b:9f:95:81:31:fe:9f:00:66:46:53:05:01:00:11:71:df:00:00:00:00:00:13'


def opensc(env, *args, timeout=60):
    return rig.pkcs11_tool(rig.OPENSC_MODULE, *args, env=env, timeout=timeout)


def tool(env, *args, timeout=60):
    return rig.run(list(args), env=env, timeout=timeout)


def openssl(*args, timeout=30):
    return rig.run(['openssl'] + list(args), timeout=timeout)


def tries_left(state):
    """The user PIN's counter as the token keeps it (its --state file:
    `secret 04 01 <use> <modify> <level> <max> <left> <key>`). OpenSC 0.23
    never asks the ePass2003 for it; epass2003-selftest checks the card's
    63Cx answers."""
    with open(state) as f:
        for line in f:
            fields = line.split()
            if fields[:3] == ['secret', '04', '01']:
                return int(fields[7])
    rig.fail('no user PIN in ' + state)


def test():
    if not os.path.exists(rig.OPENSC_MODULE):
        rig.skip('%s is not installed' % rig.OPENSC_MODULE)
    with rig.Rig(readers=2) as r:
        work = r.dir
        env = rig.opensc_env(r)
        state = os.path.join(work, 'p15.state')
        card = r.start_card(0, 'epass2003', state=state, provision='pkcs15',
                            timeout=60)
        ca = state + '.ca.pem'
        rig.check(os.path.exists(ca), 'the demo CA was not written to ' + ca)

        res = tool(env, 'opensc-tool', '--reader', '0', '-a', '-n')
        rig.check(res.returncode == 0 and ATR_PKCS15 in res.stdout and
                  'epass2003' in res.stdout,
                  'opensc-tool -a -n:\n' + res.describe())
        rig.log('opensc-tool: ATR %s, driver epass2003' % ATR_PKCS15)

        res = opensc(env, '-L')
        rig.check(res.returncode == 0 and 'token label' in res.stdout and
                  'kyso ePass2003' in res.stdout,
                  'OpenSC shows no token on the ePass2003:\n' + res.describe())

        res = opensc(env, '--login', '--pin', PIN, '-O')
        rig.check(res.returncode == 0, 'pkcs11-tool -O:\n' + res.describe())
        for what in ('Private Key Object', 'Public Key Object',
                     'Certificate Object'):
            rig.check(what in res.stdout, 'OpenSC lists no %s:\n%s'
                      % (what, res.stdout))
        rig.log('OpenSC lists the private key, public key and certificate')

        res = opensc(env, '--login', '--pin', PIN, '--test', timeout=180)
        rig.check(res.returncode == 0 and 'No errors' in res.stdout,
                  'pkcs11-tool --login --test:\n' + res.describe())
        rig.log('OpenSC --login --test: no errors')

        der = os.path.join(work, 'cert.der')
        pem = os.path.join(work, 'cert.pem')
        pub = os.path.join(work, 'pub.pem')
        msg = os.path.join(work, 'msg')
        sig = os.path.join(work, 'sig')
        with open(msg, 'wb') as f:
            f.write(b'signed by the virtual ePass2003 through OpenSC\n')
        res = opensc(env, '--read-object', '--type', 'cert', '--label',
                     'Certificate', '-o', der)
        rig.check(res.returncode == 0, 'reading the certificate:\n' +
                  res.describe())
        for args in (['x509', '-inform', 'der', '-in', der, '-out', pem],
                     ['verify', '-CAfile', ca, pem],
                     ['x509', '-in', pem, '-pubkey', '-noout', '-out', pub]):
            res = openssl(*args)
            rig.check(res.returncode == 0, res.describe())
        res = opensc(env, '--login', '--pin', PIN, '--sign', '-m',
                     'SHA256-RSA-PKCS', '-i', msg, '-o', sig)
        rig.check(res.returncode == 0, 'signing:\n' + res.describe())
        res = openssl('dgst', '-sha256', '-verify', pub, '-signature', sig,
                      msg)
        rig.check(res.returncode == 0 and 'Verified OK' in res.stdout,
                  'OpenSSL does not verify the signature:\n' + res.describe())
        rig.log('signed through OpenSC (SM, MSE, PSO), verified by OpenSSL')

        # A wrong PIN is refused and costs one try, kept across restarts.
        rig.check(tries_left(state) == 6, 'a fresh token has not 6 tries')
        res = opensc(env, '--login', '--pin', '11111111', '-O')
        rig.check(res.returncode != 0 and 'CKR_PIN_INCORRECT' in
                  res.stdout + res.stderr,
                  'a wrong PIN was not refused:\n' + res.describe())
        left = tries_left(state)
        rig.check(left == 5, 'after a wrong PIN %d tries left, not 5' % left)
        card.stop()
        card = r.start_card(0, 'epass2003', state=state, timeout=30)
        left = tries_left(state)
        rig.check(left == 5, 'after a restart %d tries left, not 5' % left)
        res = opensc(env, '--login', '--pin', PIN, '-O')
        rig.check(res.returncode == 0 and 'Certificate Object' in res.stdout,
                  'the right PIN after a restart:\n' + res.describe())
        rig.check(tries_left(state) == 6, 'the right PIN did not reset '
                  'the counter')
        rig.log('wrong PIN: 5 tries left, kept across a restart; right '
                'PIN: 6 again')
        card.stop()

        # A blank token made by OpenSC's own pkcs15-init: erase (magic
        # PIN, DELETE MF), CREATE FILE / UPDATE BINARY / records / PINs
        # installed with 80 E3, on-token key generation (00 46, 80 B4).
        fstate = os.path.join(work, 'factory.state')
        card = r.start_card(0, 'epass2003', state=fstate, timeout=30)
        for args in (['pkcs15-init', '-r', '0', '--erase-card'],
                     ['pkcs15-init', '-r', '0', '--create-pkcs15', '-p',
                      'pkcs15+onepin', '--pin', PIN, '--puk', '87654321',
                      '--label', 'made by pkcs15-init'],
                     ['pkcs15-init', '-r', '0', '--generate-key', 'rsa/2048',
                      '--auth-id', '01', '--pin', PIN, '--label', 'gen'],
                     ['pkcs15-init', '-r', '0', '--generate-key',
                      'ec/prime256v1', '--auth-id', '01', '--pin', PIN,
                      '--label', 'gen-ec']):
            res = tool(env, *args, timeout=120)
            rig.check(res.returncode == 0, ' '.join(args) + ':\n' +
                      res.describe())
        res = opensc(env, '--login', '--pin', PIN, '--test', timeout=180)
        rig.check(res.returncode == 0 and 'No errors' in res.stdout,
                  'pkcs11-tool --test on the pkcs15-init token:\n' +
                  res.describe())
        ecder = os.path.join(work, 'ec.der')
        ecpem = os.path.join(work, 'ec.pem')
        ecsig = os.path.join(work, 'ec.sig')
        res = opensc(env, '--read-object', '--type', 'pubkey', '--label',
                     'gen-ec', '-o', ecder)
        rig.check(res.returncode == 0, 'reading the EC public key:\n' +
                  res.describe())
        res = openssl('pkey', '-pubin', '-inform', 'der', '-in', ecder,
                      '-out', ecpem)
        rig.check(res.returncode == 0, res.describe())
        # pkcs11-tool --sign picks the key by --id only.
        res = opensc(env, '--login', '--pin', PIN, '-O', '--type',
                     'privkey')
        rig.check(res.returncode == 0, res.describe())
        ec_id = None
        for block in res.stdout.split('Private Key Object')[1:]:
            if block.lstrip().startswith('; EC'):
                for line in block.splitlines():
                    if line.strip().startswith('ID:'):
                        ec_id = line.split(':', 1)[1].strip()
        rig.check(ec_id is not None, 'no EC private key listed:\n' +
                  res.stdout)
        res = opensc(env, '--login', '--pin', PIN, '--sign', '-m',
                     'ECDSA-SHA256', '--signature-format', 'openssl',
                     '--id', ec_id, '-i', msg, '-o', ecsig)
        rig.check(res.returncode == 0, 'ECDSA through OpenSC:\n' +
                  res.describe())
        res = openssl('dgst', '-sha256', '-verify', ecpem, '-signature',
                      ecsig, msg)
        rig.check(res.returncode == 0 and 'Verified OK' in res.stdout,
                  'OpenSSL does not verify the ECDSA signature:\n' +
                  res.describe())
        rig.log('pkcs15-init: erase, create, on-token RSA-2048 and P-256 '
                'generation; --test: no errors; ECDSA-SHA256 verified')
        card.stop()

        # The vendor layout: driver and SM fine, no PKCS#15 for OpenSC.
        vstate = os.path.join(work, 'vendor.state')
        r.start_card(1, 'epass2003', state=vstate, provision='vendor',
                     timeout=60)
        res = tool(env, 'opensc-tool', '--reader', '1', '-a', '-n')
        rig.check(res.returncode == 0 and ATR_VENDOR in res.stdout and
                  'epass2003' in res.stdout,
                  'opensc-tool on the vendor token:\n' + res.describe())
        res = tool(env, 'opensc-tool', '--reader', '1', '--serial')
        rig.check(res.returncode == 0, 'opensc-tool --serial (a command '
                  'under SM):\n' + res.describe())
        res = opensc(env, '-L')
        rig.check(res.returncode == 0 and 'token not recognized' in res.stdout,
                  'OpenSC recognises the vendor layout?\n' + res.describe())
        res = tool(env, 'pkcs15-tool', '--reader', '1', '--list-certificates')
        rig.check(res.returncode != 0 or 'X.509 Certificate' not in res.stdout,
                  'OpenSC lists certificates on the vendor token:\n' +
                  res.describe())
        rig.log('vendor layout: driver epass2003, SM works, token not '
                'recognized, no objects')


rig.main(test)
