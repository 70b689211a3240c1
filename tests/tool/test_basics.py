#!/usr/bin/python3
"""Issue 5: kyso's read-only commands and token choice against the demo
card: --help, list (text and JSON), pin status, diag, cert export, and
--token by serial number, reader name and pkcs11: URI; a missing token,
a token that matches nothing, a bad URI; usage errors. None of them may
use a PIN try."""

import os

import tool_helpers as h
from tool_helpers import check, log, rig


def test():
    h.require_tool()
    work = h.workdir('basics')
    with rig.Rig(readers=2) as r:
        # No token at all: readers, but empty.
        env = h.english_env(r.env)
        res = h.kyso(env, 'pin', 'status', expect='no_token', what='no token')
        check('No token found' in res.stderr, 'no token: message:\n' + res.describe())
        doc = h.kyso_json(env, 'pin', 'status', expect='no_token')
        check(doc['error']['code'] == 'no_token', 'no token: JSON error %s' % doc)

        card, state, ca = h.start_demo_card(r, work)
        reader = r.reader_name(0)

        res = h.kyso(env, '--help', expect='ok')
        for word in ('pin change', 'cert import', 'selftest', 'Exit codes'):
            check(word in res.stdout, '--help does not mention %r' % word)
        res = h.kyso(env, 'pin', 'change', '--help', expect='ok')
        check('Usage: kyso pin change' in res.stdout, res.describe())
        h.kyso(env, 'frobnicate', expect='usage')
        h.kyso(env, 'list', '--slot', '9a', expect='usage', what='option list does not take')
        h.kyso(env, 'cert', 'import', expect='usage', what='cert import without FILE')
        res = h.kyso(env, 'cert', 'export', '--slot', 'zz', expect='usage')
        check('9a' in res.stderr, 'unknown slot: the message lists the slots:\n'
              + res.describe())

        # list: text.
        res = h.kyso(env, 'list', expect='ok')
        for want in [reader, 'YubiKey', 'kyso demo 9A', 'kyso demo CA', '9e',
                     'PIV Authentication', 'EC P-256', 'RSA 2048', 'no card']:
            check(want in res.stdout, 'kyso list does not show %r:\n%s'
                  % (want, res.describe()))
        check('factory default' in res.stderr, 'kyso list: no warning about '
              'the default PIN:\n' + res.describe())

        # list: JSON, the documented schema (docs/kyso-json.md).
        doc = h.kyso_json(env, 'list')
        rd = [x for x in doc['readers'] if x['name'] == reader][0]
        check(rd['card_present'] and rd['supported'], 'reader: %s' % rd)
        tok = rd['token']
        serial = tok['serial']
        for k in ('label', 'manufacturer', 'model', 'serial', 'uri', 'driver'):
            check(tok.get(k), 'token.%s missing: %s' % (k, tok))
        check(rd['pin'] == {'tries_left': 3, 'tries_max': 3, 'blocked': False,
                            'default': True, 'min_length': 6, 'max_length': 8},
              'pin: %s' % rd['pin'])
        check(rd['puk']['tries_left'] == 3, 'puk: %s' % rd['puk'])
        slots = [k['slot'] for k in rd['keys']]
        check(slots == h.DEMO_SLOTS, 'keys: %s' % slots)
        k9c = [k for k in rd['keys'] if k['slot'] == '9c'][0]
        check(k9c['key'] == {'type': 'ec', 'bits': 256, 'curve': 'P-256'}, k9c)
        cert = k9c['certificate']
        check(cert['subject'] == 'CN=kyso demo 9C, O=kyso' and
              cert['issuer'] == 'CN=kyso demo CA, O=kyso' and
              cert['status'] == 'valid' and cert['days_left'] > 3000 and
              len(cert['sha256']) == 64 and cert['not_after'].endswith('Z'),
              'certificate: %s' % cert)
        codes = [w['code'] for w in doc['warnings']]
        check('default_pin' in codes, 'warnings: %s' % doc['warnings'])

        # pin status: no try used by any of this.
        doc = h.kyso_json(env, 'pin', 'status')
        check(doc['pin']['tries_left'] == 3 and doc['pin']['default'] is True,
              'pin status: %s' % doc)

        # Token choice.
        for spec in (serial, 'vpcd 0 00 00', tok['uri'],
                     'pkcs11:serial=%s' % serial,
                     'pkcs11:model=YubiKey;manufacturer=Yubico;object=x;type=cert'):
            doc = h.kyso_json(env, '--token', spec, 'pin', 'status',
                              what='--token %s' % spec)
            check(doc['token']['serial'] == serial, '--token %s: %s' % (spec, doc))
        res = h.kyso(env, '--token', '99999999', 'pin', 'status', expect='no_token')
        check('No token matches' in res.stderr, res.describe())
        h.kyso(env, '--token', 'pkcs11:serial=%s' % ('9' * 8), 'list', expect='no_token')
        res = h.kyso(env, '--token', 'pkcs11:token=YubiKey PIV', 'list', expect='usage')
        check('%20' in res.stderr, 'bad URI: no hint about percent-encoding:\n'
              + res.describe())
        h.kyso(env, '--token', 'pkcs11:serial=1;serial=2', 'list', expect='usage')
        h.kyso(env, '--token', 'pkcs11:token=%zz', 'list', expect='usage')

        # diag: no serial number, no certificate.
        res = h.kyso(env, 'diag', expect='ok')
        for want in ('ATR', '3B FD', 'piv', 'Yubico', 'kyso 0.'):
            check(want in res.stdout, 'diag does not show %r:\n%s' % (want, res.describe()))
        for secret in (serial, 'kyso demo'):
            check(secret not in res.stdout, 'diag shows %r:\n%s' % (secret, res.describe()))
        doc = h.kyso_json(env, 'diag')
        check(doc['readers'][0]['driver'] == 'piv', 'diag JSON: %s' % doc)
        env_key = dict(env, KYSO_PIV_MGMT_KEY='00' * 24)
        res = h.kyso(env_key, 'diag', expect='ok')
        check('00' * 24 not in res.stdout and 'KYSO_PIV_MGMT_KEY' in res.stdout,
              'diag shows the management key:\n' + res.describe())

        # cert export: PEM and DER, equal to the certificate on the card.
        pem = os.path.join(work, '9a.pem')
        der = os.path.join(work, '9a.der')
        h.kyso(env, 'cert', 'export', '--slot', '9a', '--out', pem, expect='ok')
        h.kyso(env, 'cert', 'export', '--slot', '9A', '--format', 'der', '--out', der,
               expect='ok')
        res = rig.run(['openssl', 'x509', '-in', der, '-inform', 'DER', '-noout',
                       '-subject', '-fingerprint', '-sha256'], env=env)
        check('kyso demo 9A' in res.stdout, res.describe())
        fp = [l for l in res.stdout.splitlines() if 'Fingerprint' in l][0]
        fp = fp.split('=', 1)[1].replace(':', '').lower()
        check(fp == [k for k in rd['keys'] if k['slot'] == '9a'][0]['certificate']['sha256'],
              'exported DER has another fingerprint than kyso list shows')
        res = rig.run(['openssl', 'verify', '-CAfile', ca, pem], env=env)
        check(res.returncode == 0, res.describe())
        res = h.kyso(env, 'cert', 'export', '--slot', 'id:03', expect='ok')
        check('BEGIN CERTIFICATE' in res.stdout, res.describe())
        h.kyso(env, 'cert', 'export', '--slot', '82', expect='not_found')

        check(h.pin_tries(env) == (3, 3), 'a read-only command used a PIN try')

        # A card no driver takes, next to the token: shown, not chosen.
        other = r.start_card(1, 'unknown')
        res = h.kyso(env, 'list', expect='ok')
        check('a card kyso does not support' in res.stdout, res.describe())
        doc = h.kyso_json(env, 'list')
        check([x['supported'] for x in doc['readers']] == [True, False], doc)
        doc = h.kyso_json(env, 'pin', 'status')
        check(doc['token']['serial'] == serial, doc)
        res = h.kyso(env, '--token', r.reader_name(1), 'pin', 'status', expect='no_token')
        check('not a token kyso supports' in res.stderr, res.describe())
        other.stop()

        # Two tokens: kyso does not guess.
        h.start_demo_card(r, work, reader=1, name='second')
        res = h.kyso(env, 'pin', 'status', expect='no_token', what='two tokens')
        check('Several tokens' in res.stderr and '--token' in res.stderr, res.describe())
        doc = h.kyso_json(env, '--token', serial, 'pin', 'status')
        check(doc['token']['reader'] == reader, doc)
        doc = h.kyso_json(env, '--token', r.reader_name(1), 'pin', 'status')
        check(doc['token']['serial'] != serial, doc)
        doc = h.kyso_json(env, 'list')
        check(len([x for x in doc['readers'] if x['supported']]) == 2, doc)


if __name__ == '__main__':
    rig.main(test)
