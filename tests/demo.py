"""The kyso demo: a virtual PIV token in a private pcscd; list it, sign a
document with it through kyso's PKCS#11 module, and verify the signature
with OpenSSL against the certificate read from the token.

Run by ./demo.sh (as root, after the build)."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'integration'))
import rig  # noqa: E402

PIN = '123456'


def step(title):
    print('\n== %s' % title, flush=True)


def tool(r, *args):
    res = rig.run(['pkcs11-tool', '--module', rig.MODULE] + list(args),
                  env=r.env, timeout=60)
    if res.returncode != 0:
        rig.fail(res.describe())
    return res


def demo():
    rig.require_module()
    work = tempfile.mkdtemp(prefix='kyso-demo-')
    with rig.Rig(readers=2) as r:
        r.start_card(0, 'piv', state=os.path.join(work, 'card.state'),
                     provision='demo')

        step('The readers and the token kyso sees (pkcs11-tool -L)')
        print(tool(r, '-L').stdout)

        step('Its certificates and keys, before login (pkcs11-tool -O)')
        print(tool(r, '-O').stdout)

        doc = os.path.join(work, 'don-xin-cap-phep.txt')
        with open(doc, 'w', encoding='utf-8') as f:
            f.write('Đơn xin cấp phép: ký số bằng token kyso.\n')

        for key_id, mech, name in (('01', 'SHA256-RSA-PKCS', 'RSA-2048, PIV slot 9A'),
                                   ('02', 'ECDSA-SHA256', 'EC P-256, PIV slot 9C')):
            step('Sign %s with the %s key (%s)' % (os.path.basename(doc), name, mech))
            sig = os.path.join(work, 'doc.%s.sig' % key_id)
            cert = os.path.join(work, 'cert.%s.der' % key_id)
            tool(r, '--login', '--pin', PIN, '--sign', '--id', key_id,
                 '--mechanism', mech, '--signature-format', 'openssl',
                 '--input-file', doc, '--output-file', sig)
            print('signature: %d bytes in %s' % (os.path.getsize(sig), sig))

            step('Verify it with OpenSSL and the certificate from the token')
            tool(r, '--read-object', '--type', 'cert', '--id', key_id,
                 '--output-file', cert)
            pub = os.path.join(work, 'pub.%s.pem' % key_id)
            res = rig.run(['openssl', 'x509', '-inform', 'DER', '-in', cert,
                           '-noout', '-subject', '-pubkey'])
            if res.returncode != 0:
                rig.fail(res.describe())
            subject, _, pem = res.stdout.partition('\n')
            print(subject)
            with open(pub, 'w') as f:
                f.write(pem)
            res = rig.run(['openssl', 'dgst', '-sha256', '-verify', pub,
                           '-signature', sig, doc])
            print(res.stdout.strip())
            rig.check(res.returncode == 0 and 'Verified OK' in res.stdout,
                      'OpenSSL did not verify the signature:\n' + res.describe())
    print('\nDemo done: the token was listed, signed twice, and both signatures verified.')


if __name__ == '__main__':
    rig.main(demo)
