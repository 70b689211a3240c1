#!/usr/bin/python3
"""Issue 5: keys and certificates with kyso on the demo card.

- kyso sign / kyso verify: CMS detached signatures with an RSA key (9A)
  and the PIN-always EC key (9C); `openssl cms -verify` accepts them
  against the demo CA; a changed file does not verify (exit 11).
- kyso csr: a PKCS#10 request that `openssl req -verify` accepts, with a
  UTF-8 Vietnamese subject.
- kyso key generate at a terminal (the progress line shows), the public
  key written out; a request for it in a new process (--pubkey), a
  certificate from the test's own CA, kyso cert import in a new process
  (the token no longer knows the key: kyso proves it with a test
  signature), then signing with it.
- kyso cert import of a file that is not a certificate (exit 6) and of a
  certificate for another key (exit 7): the card is unchanged.
- kyso import FILE.p12 (RSA, and EC in a legacy-encrypted file), a wrong
  password (exit 6).
- kyso selftest on every key; kyso cert delete; kyso mgmkey change (the
  old key is then refused, exit 9; the new one works); kyso reset with its
  typed confirmation."""

import json
import os

import tool_helpers as h
from tool_helpers import check, log, rig


def openssl(env, *args, what, input=None):
    res = rig.run(['openssl'] + list(args), env=env, input=input)
    check(res.returncode == 0, '%s failed:\n%s' % (what, res.describe()))
    return res


def cms_verify(env, data, sig, ca, what):
    res = rig.run(['openssl', 'cms', '-verify', '-binary', '-content', data,
                   '-inform', 'DER', '-in', sig, '-CAfile', ca, '-purpose', 'any',
                   '-out', os.devnull], env=env)
    check(res.returncode == 0 and 'Verification successful' in res.stderr,
          '%s: openssl cms -verify refused it:\n%s' % (what, res.describe()))


def test():
    h.require_tool()
    work = h.workdir('keys')
    with rig.Rig(readers=1) as r:
        card, state, demo_ca = h.start_demo_card(r, work)
        env = h.english_env(r.env)
        pin_env = dict(env, KYSO_TEST_PIN=h.PIN)
        pin = ('--pin-source', 'env:KYSO_TEST_PIN')
        data = h.write(os.path.join(work, 'doc.txt'), 'Hợp đồng số 1\n' * 100)

        # ---- sign / verify.
        for slot in ('9a', '9c'):
            sig = os.path.join(work, 'doc-%s.p7s' % slot)
            doc = h.kyso_json(pin_env, 'sign', data, '--slot', slot, '--out', sig, *pin)
            check(doc['signer'] == 'CN=kyso demo %s, O=kyso' % slot.upper(), doc)
            cms_verify(env, data, sig, demo_ca, 'kyso sign --slot %s' % slot)
            doc = h.kyso_json(env, 'verify', data, sig, '--ca', demo_ca)
            check(doc['valid'] and doc['chain_verified'], doc)
        h.kyso(pin_env, 'sign', data, *pin, expect='ok', what='sign, default slot')
        cms_verify(env, data, data + '.p7s', demo_ca, 'kyso sign (default slot)')
        changed = h.write(os.path.join(work, 'changed.txt'), h.read(data) + b'x')
        res = h.kyso(env, 'verify', changed, data + '.p7s', expect='verify')
        check('does not verify' in res.stderr, res.describe())
        h.kyso(env, 'verify', data, data, expect='file', what='verify: not a signature')
        log('sign/verify: ok')

        # ---- csr for a key with a certificate.
        req = os.path.join(work, 'req9a.pem')
        doc = h.kyso_json(pin_env, 'csr', '--slot', '9a', '--subject',
                          'CN=Nguyễn Văn An,O=Sở Thông tin,C=VN', '--out', req, *pin)
        res = openssl(env, 'req', '-in', req, '-verify', '-noout', '-subject',
                      '-nameopt', 'utf8,sep_comma_plus', what='openssl req -verify')
        check('Nguyễn Văn An' in res.stdout and 'C=VN' in res.stdout, res.describe())
        openssl(env, 'req', '-in', req, '-noout', '-pubkey', '-out',
                os.path.join(work, 'req9a.pub'), what='CSR public key')
        h.kyso(env, 'cert', 'export', '--slot', '9a', '--out',
               os.path.join(work, '9a.pem'), expect='ok')
        openssl(env, 'x509', '-in', os.path.join(work, '9a.pem'), '-noout', '-pubkey',
                '-out', os.path.join(work, '9a.pub'), what='cert public key')
        check(h.read(os.path.join(work, 'req9a.pub')) == h.read(os.path.join(work, '9a.pub')),
              'the request is not for the key of slot 9a')
        h.kyso(pin_env, 'csr', '--slot', '9a', *pin, expect='usage', what='csr without subject')
        log('csr: ok')

        # ---- Not a certificate, a certificate for another key: nothing written.
        before = h.snapshot(env)
        res = h.kyso(env, 'cert', 'import', data, '--slot', '9a', expect='file')
        check('is not a certificate' in res.stderr, res.describe())
        h.kyso(env, 'cert', 'export', '--slot', '9c', '--out',
               os.path.join(work, '9c.pem'), expect='ok')
        res = h.kyso(env, 'cert', 'import', os.path.join(work, '9c.pem'), '--slot', '9a',
                     expect='mismatch')
        check('another key' in res.stderr and 'Nothing was written' in res.stderr,
              res.describe())
        h.kyso(env, 'cert', 'import', os.path.join(work, 'missing.pem'), '--slot', '9a',
               expect='file')
        check(h.snapshot(env) == before, 'a refused import changed the card')

        # ---- key generate at a terminal, then request and write its certificate.
        pub = os.path.join(work, 'new82.pub')
        t = h.Pty(env, 'key', 'generate', '--slot', '82', '--type', 'rsa2048', '--out', pub)
        t.expect('Making a rsa2048 key in slot 82')
        t.expect(' s ')
        t.expect('Made a rsa2048 key in slot 82')
        check(t.finish() == 0, 'key generate:\n' + t.text())
        openssl(env, 'pkey', '-pubin', '-in', pub, '-noout', what='the new public key')
        req = os.path.join(work, 'req82.pem')
        h.kyso(pin_env, 'csr', '--slot', '82', '--subject', 'CN=kyso tool test', '--out', req,
               *pin, expect='not_found', what='csr without the public key')
        h.kyso(pin_env, 'csr', '--slot', '82', '--subject', 'CN=kyso tool test', '--out', req,
               '--pubkey', pub, *pin, expect='ok', what='csr --pubkey')
        openssl(env, 'req', '-in', req, '-verify', '-noout', what='verify the new request')
        ca_key = os.path.join(work, 'ca.key')
        ca = os.path.join(work, 'ca.pem')
        openssl(env, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca_key,
                '-out', ca, '-subj', '/CN=kyso tool test CA', '-days', '30', what='test CA')
        cert = os.path.join(work, 'new82.pem')
        openssl(env, 'x509', '-req', '-in', req, '-CA', ca, '-CAkey', ca_key,
                '-CAcreateserial', '-out', cert, '-days', '10', what='issue')
        # The demo certificate of 9A is for another key: refused by the
        # test signature (the token cannot show slot 82's key).
        res = h.kyso(pin_env, 'cert', 'import', os.path.join(work, '9a.pem'), '--slot', '82',
                     *pin, expect='mismatch')
        check('Nothing was written' in res.stderr, res.describe())
        h.kyso(pin_env, 'cert', 'import', cert, '--slot', '82', *pin, expect='ok',
               what='cert import of the new certificate')
        doc = h.kyso_json(env, 'list')
        k82 = [k for k in doc['readers'][0]['keys'] if k['slot'] == '82'][0]
        check(k82['certificate']['subject'] == 'CN=kyso tool test' and
              k82['certificate']['status'] == 'expiring', k82)
        check('cert_expiring' in [w['code'] for w in doc['warnings']], doc['warnings'])
        sig = os.path.join(work, 'doc-82.p7s')
        h.kyso(pin_env, 'sign', data, '--slot', '82', '--out', sig, *pin, expect='ok')
        cms_verify(env, data, sig, ca, 'signature with the new key')
        log('key generate, csr, cert import: ok')

        # ---- PKCS#12 import.
        p12 = os.path.join(work, 'rsa.p12')
        openssl(env, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                os.path.join(work, 'rsa.key'), '-out', os.path.join(work, 'rsa.crt'),
                '-subj', '/CN=imported RSA', '-days', '100', what='p12 cert')
        openssl(env, 'pkcs12', '-export', '-inkey', os.path.join(work, 'rsa.key'), '-in',
                os.path.join(work, 'rsa.crt'), '-out', p12, '-passout', 'pass:s3cret',
                what='p12')
        ecp12 = os.path.join(work, 'ec.p12')
        openssl(env, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                '-nodes', '-keyout', os.path.join(work, 'ec.key'), '-out',
                os.path.join(work, 'ec.crt'), '-subj', '/CN=imported EC', '-days', '100',
                what='ec p12 cert')
        openssl(env, 'pkcs12', '-export', '-legacy', '-inkey', os.path.join(work, 'ec.key'),
                '-in', os.path.join(work, 'ec.crt'), '-out', ecp12, '-passout', 'pass:pw',
                what='legacy p12')
        pw_env = dict(env, PW='wrong')
        h.kyso(pw_env, 'import', p12, '--slot', '83', '--password-source', 'env:PW',
               expect='file', what='p12 with a wrong password')
        h.kyso(env, 'import', data, '--slot', '83', '--password-source', 'env:PW',
               expect='file', what='import of a non-p12')
        h.kyso(dict(env, PW='s3cret'), 'import', p12, '--slot', '83',
               '--password-source', 'env:PW', expect='ok', what='import RSA p12')
        h.kyso(dict(env, PW='pw'), 'import', ecp12, '--slot', '9d', '--password-source',
               'env:PW', expect='canceled', what='import over a key without --yes')
        h.kyso(dict(env, PW='pw'), 'import', ecp12, '--slot', '9d', '--yes',
               '--password-source', 'env:PW', expect='ok', what='import EC p12 into 9d')
        for slot, crt in (('83', 'rsa.crt'), ('9d', 'ec.crt')):
            sig = os.path.join(work, 'doc-%s.p7s' % slot)
            h.kyso(pin_env, 'sign', data, '--slot', slot, '--out', sig, *pin, expect='ok')
            cms_verify(env, data, sig, os.path.join(work, crt), 'imported key %s' % slot)

        # ---- selftest.
        doc = h.kyso_json(pin_env, 'selftest', *pin)
        check(doc['failed'] == 0 and doc['passed'] == 6 and
              all(x['result'] == 'ok' for x in doc['results']), doc)

        # ---- cert delete.
        h.kyso(env, 'cert', 'delete', '--slot', '83', expect='canceled',
               what='delete without --yes and no terminal')
        h.kyso(env, 'cert', 'delete', '--slot', '83', '--yes', expect='ok')
        h.kyso(env, 'cert', 'export', '--slot', '83', expect='not_found')

        # ---- management key.
        doc = h.kyso_json(env, 'mgmkey', 'change', '--generate')
        new_key = doc['new_key']
        check(len(new_key) == 48, doc)
        before = h.snapshot(env)
        res = h.kyso(env, 'cert', 'delete', '--slot', '82', '--yes', expect='refused',
                     what='write with the old management key')
        check('management key' in res.stderr, res.describe())
        check(h.snapshot(env) == before, 'a refused delete changed the card')
        mk_env = dict(env, MK=new_key, NK='00112233445566778899aabbccddeeff')
        h.kyso(mk_env, 'cert', 'delete', '--slot', '82', '--yes', '--mgmt-key-source',
               'env:MK', expect='ok', what='write with the new management key')
        h.kyso(mk_env, 'mgmkey', 'change', '--mgmt-key-source', 'env:MK',
               '--new-mgmt-key-source', 'env:NK', expect='ok', what='to an AES-128 key')
        h.kyso(dict(mk_env, NK='123'), 'mgmkey', 'change', '--mgmt-key-source', 'env:MK',
               '--new-mgmt-key-source', 'env:NK', expect='usage', what='bad key')
        log('p12, selftest, delete, management key: ok')

        # ---- reset, with its typed confirmation.
        serial = h.kyso_json(env, 'pin', 'status')['token']['serial']
        h.kyso(env, 'reset', '--confirm', '1', expect='canceled')
        t = h.Pty(env, 'reset')
        t.expect('erases every key')
        t.expect('serial number (%s)' % serial)
        t.send('nope\n')
        t.expect('nothing was erased')
        check(t.finish() == h.EXIT['canceled'], t.text())
        check(h.snapshot(env)['keys'] != [], 'a canceled reset erased the card')
        t = h.Pty(env, 'reset')
        t.expect('serial number (%s)' % serial)
        t.send(serial + '\n')
        t.expect('factory state')
        check(t.finish() == 0, t.text())
        snap = h.snapshot(env)
        check(snap['keys'] == [] and snap['pin'] == 3 and snap['puk'] == 3, snap)
        doc = h.kyso_json(env, 'pin', 'status')
        check(doc['pin']['default'] is True, doc)
        # The factory management key works again.
        h.kyso(pin_env, 'key', 'generate', '--slot', '9a', '--type', 'p384', expect='ok')
        log('reset: ok')


if __name__ == '__main__':
    rig.main(test)
