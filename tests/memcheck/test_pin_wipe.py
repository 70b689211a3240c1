"""PINs are wiped after use (issue 7, item 6): runs pin_wipe (pin_wipe.c)
against the demo virtual PIV card in a private pcscd.

    test_pin_wipe.py plain       the module as installed (no debug log)
    test_pin_wipe.py debug_log   with KYSO_DEBUG=1 and a log file: the log's
                                 stdio buffer lives on the heap too, and the
                                 log file itself must hold no PIN either

pin_wipe logs in with the demo PIN, changes it (C_SetPIN), tries a wrong
one, logs in with the new one, signs with the 9C key after a
CKU_CONTEXT_SPECIFIC login, logs in as SO (the PUK) and sets a third PIN
with C_InitPIN, then holds the PUK across C_CloseSession and C_Finalize.
Every heap block freed during the run, and the whole live heap after each of
those calls, must be free of every PIN and PUK (the PUK is allowed in the
live heap only while kyso holds it on purpose, between C_Login(CKU_SO) and
C_InitPIN / the end of the SO's session).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402

check = rig.check
fail = rig.fail
log = rig.log

EXE = os.environ.get('KYSO_PIN_WIPE_EXE',
                     os.path.join(rig.BUILD_DIR, 'tests', 'memcheck', 'pin_wipe'))
# Must match pin_wipe.c.
SECRETS = [b'123456', b'k9#Qv7!z', b'Wp3$x8&m', b'0z!Kq4#u', b'12345678']


def forms(secret):
    """How a secret could show in a text log: raw, and as hex."""
    h = secret.hex()
    return [secret, h.encode(), h.upper().encode(),
            ' '.join(h[i:i + 2] for i in range(0, len(h), 2)).upper().encode()]


def symbolize(text):
    """pin_wipe's backtraces name only exported functions; add file:line
    for the module's static ones (addr2line, when binutils is there)."""
    if shutil.which('addr2line') is None:
        return text
    out = []
    for line in text.splitlines():
        m = re.match(r'^(/\S+)\(\+(0x[0-9a-f]+)\)', line)
        if m:
            p = subprocess.run(['addr2line', '-f', '-e', m.group(1), m.group(2)],
                               capture_output=True, text=True)
            if p.returncode == 0:
                line += '  ' + ' '.join(p.stdout.split())
        out.append(line)
    return '\n'.join(out)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ('plain', 'debug_log'):
        fail('usage: test_pin_wipe.py plain|debug_log')
    rig.require_module()
    check(os.access(EXE, os.X_OK), '%s is not built' % EXE)
    work = tempfile.mkdtemp(prefix='kyso-pinwipe-')
    try:
        with rig.Rig(readers=2) as r:
            r.start_card(0, 'piv', state=os.path.join(work, 'piv.state'),
                         provision='demo')
            env = dict(r.env)
            debug_file = None
            if sys.argv[1] == 'debug_log':
                debug_file = os.path.join(work, 'kyso-debug.log')
                env['KYSO_DEBUG'] = '1'
                env['KYSO_DEBUG_FILE'] = debug_file
            res = rig.run([EXE, rig.MODULE, r.reader_name(0)], env=env,
                          timeout=120)
            res.stdout = symbolize(res.stdout)
            log(res.stdout.rstrip())
            check(res.returncode == 0, 'pin_wipe found a PIN copy, or a call '
                  'failed:\n%s' % res.describe())
            check('RESULT control=ok' in res.stdout and ' found=0 ' in res.stdout,
                  'no clean RESULT line:\n%s' % res.describe())
            if debug_file is not None:
                with open(debug_file, 'rb') as f:
                    text = f.read()
                check(b'C_Login' in text and b'APDU >' in text,
                      'the debug log is empty or has no APDUs (%d bytes)'
                      % len(text))
                for s in SECRETS:
                    for form in forms(s):
                        check(form not in text, 'the debug log holds a PIN '
                              '(%r as %r)' % (s, form))
                log('debug log: %d bytes, no PIN in it' % len(text))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    rig.main(main)
