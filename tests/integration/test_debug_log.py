#!/usr/bin/python3
"""KYSO_DEBUG=1 with KYSO_DEBUG_FILE logs each PKCS#11 call and each APDU
with its status word, and never the PIN; a reader_deny in kyso.conf hides
a reader."""

import os
import tempfile

import rig

PIN = '123456'


def test():
    rig.require_module()
    work = tempfile.mkdtemp(prefix='kyso-debug-')
    logfile = os.path.join(work, 'kyso.log')
    with rig.Rig(readers=2) as r:
        r.start_card(0, 'piv', state=os.path.join(work, 'piv.state'), provision='demo')
        env = dict(r.env, KYSO_DEBUG='1', KYSO_DEBUG_FILE=logfile)
        res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '--login', '--pin', PIN,
                       '--sign', '--id', '01', '--mechanism', 'SHA256-RSA-PKCS',
                       '--input-file', '/etc/hostname', '--output-file',
                       os.path.join(work, 'sig')], env=env, timeout=60)
        rig.check(res.returncode == 0, res.describe())
        with open(logfile, encoding='utf-8', errors='replace') as f:
            text = f.read()
        for call in ('C_Initialize', 'C_GetSlotList', 'C_OpenSession', 'C_Login',
                     'C_SignInit', 'C_Sign', 'C_Finalize'):
            rig.check(call in text, '%s is not in the debug log' % call)
        rig.check('APDU' in text and '90 00' in text.replace('9000', '90 00'),
                  'no APDU with its status word in the debug log')
        pin_hex = PIN.encode().hex().upper()
        spaced = ' '.join(pin_hex[i:i + 2] for i in range(0, len(pin_hex), 2))
        for form in (PIN, pin_hex, pin_hex.lower(), spaced, spaced.lower()):
            rig.check(form not in text, 'the PIN appears in the debug log as %r' % form)
        rig.log('debug log: %d lines, every call and APDU, no PIN' % text.count('\n'))

        # Off by default: nothing written.
        os.unlink(logfile)
        env = dict(r.env, KYSO_DEBUG_FILE=logfile)
        env.pop('KYSO_DEBUG', None)
        rig.run(['pkcs11-tool', '--module', rig.MODULE, '-L'], env=env)
        rig.check(not os.path.exists(logfile), 'a debug log was written with KYSO_DEBUG unset')

        # reader_deny hides the reader with the card.
        conf = os.path.join(work, 'kyso.conf')
        with open(conf, 'w') as f:
            f.write('# test\nreader_deny = %s\n' % r.reader_name(0))
        env = dict(r.env, KYSO_CONF=conf)
        res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '-L'], env=env)
        rig.check(r.reader_name(0) not in res.stdout and r.reader_name(1) in res.stdout,
                  'reader_deny did not hide %r:\n%s' % (r.reader_name(0), res.stdout))


if __name__ == '__main__':
    rig.main(test)
