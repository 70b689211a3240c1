"""What the robustness tests (issue 7) share: the rig from
tests/integration, a provisioned demo PIV card state made once and copied
per run, the set of return codes PKCS#11 defines, and the checks that a
client process neither crashed nor tripped a sanitizer.

Run the tests with Debian's /usr/bin/python3 (PyKCS11 lives there); meson
sets KYSO_BUILD_DIR, KYSO_SOURCE_DIR and, for sanitizer builds,
KYSO_PRELOAD (rig.py re-executes the test with it in LD_PRELOAD, so every
client started with `r.env`, and this process, load the ASan runtime
before the module).
"""

import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402  (tests/integration/rig.py)

check = rig.check
fail = rig.fail
log = rig.log

MODULE = rig.MODULE
PIN = '123456'
PKCS11_H = '/usr/include/p11-kit-1/p11-kit/pkcs11.h'

# What a sanitizer prints when it finds something (ASan, UBSan, LSan,
# TSan), and what glibc prints on heap corruption it notices itself.
_SANITIZER = re.compile(r'ERROR: AddressSanitizer|ERROR: LeakSanitizer|'
                        r'WARNING: ThreadSanitizer|runtime error:|'
                        r'SUMMARY: UndefinedBehaviorSanitizer|'
                        r'malloc\(\): |free\(\): |double free or corruption|'
                        r'stack smashing detected')


# ------------------------------------------------------------- files

workdir = rig.workdir


def demo_state(r, work, reader=0):
    """Provision the demo PIV card once (its RSA keys take a while to
    generate) and return the path of its state file; copy it per run with
    fresh_state() so that no run sees another's PIN counter."""
    base = os.path.join(work, 'demo.state')
    card = r.start_card(reader, 'piv', state=base, provision='demo')
    card.stop()
    check(os.path.exists(base), 'kyso-vcard --provision demo wrote no state '
          'at %s' % base)
    return base


def fresh_state(base, path):
    shutil.copyfile(base, path)
    return path


# ------------------------------------------------------------ PKCS#11

def _ckr_values():
    vals = {}
    with open(PKCS11_H) as f:
        for line in f:
            m = re.match(r'#define\s+(CKR_\w+)\s+\(?\s*(0x[0-9A-Fa-f]+|\d+)\s*'
                         r'(?:UL)?\s*\)?', line)
            if m:
                vals[int(m.group(2), 0)] = m.group(1)
    # CKR_VENDOR_DEFINED and above belong to a vendor: kyso defines none.
    vals.pop(0x80000000, None)
    return vals


CKR_NAMES = _ckr_values()


def ckr_name(rv):
    return CKR_NAMES.get(rv, '0x%X' % rv)


# pkcs11-tool (OpenSC 0.23) prints a module's return code as
# "rv = CKR_X (0xN)", "returned CKR_X (0xN)" or, for codes it has no name
# for, "unknown PKCS11 error (0xN)".
_TOOL_RV = re.compile(r'(?:rv = |returned |error: )(?:CKR_\w+|unknown PKCS11 '
                      r'error) \((0x[0-9a-fA-F]+)\)')


def tool_return_codes(text):
    """Every return code pkcs11-tool reported, as ints."""
    return [int(m.group(1), 16) for m in _TOOL_RV.finditer(text)]


# ------------------------------------------------------- process checks

def sanitizer_report(text):
    """The first line of a sanitizer (or glibc heap check) report in
    `text`, or None."""
    m = _SANITIZER.search(text or '')
    if m is None:
        return None
    start = text.rfind('\n', 0, m.start()) + 1
    end = text.find('\n', m.end())
    return text[start:end if end >= 0 else len(text)]


def check_clean_exit(res, what):
    """The client ended by itself (no signal: no crash, no ASan abort) and
    printed no sanitizer report."""
    check(res.returncode >= 0, '%s: killed by signal %d (a crash)\n%s'
          % (what, -res.returncode, res.describe()))
    rep = sanitizer_report(res.stderr) or sanitizer_report(res.stdout)
    check(rep is None, '%s: sanitizer report: %s\n%s'
          % (what, rep, res.describe()))
    # ASan exits with 1 after a report when abort_on_error is off.
    check(res.returncode not in (134, 139), '%s: exit status %d (abort or '
          'segfault in a shell)\n%s' % (what, res.returncode, res.describe()))


def env_int(name, default):
    v = os.environ.get(name)
    if v is None or v == '':
        return default
    try:
        return int(v, 0)
    except ValueError:
        fail('%s=%r is not a number' % (name, v))
