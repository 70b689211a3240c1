"""kyso's module inside real client programs under valgrind's memcheck
(issue 7, item 6), against the demo virtual PIV card(s) in a private pcscd.

    test_memcheck.py listing   pkcs11-tool -L, -T, -O with the demo card and
                               an unknown card (probed, refused) in the
                               readers
    test_memcheck.py crypto    pkcs11-tool --login --test (signatures,
                               verification, decryption on every key),
                               a signature with the 9C key (a context
                               login per use), a wrong PIN, C_SetPIN,
                               C_Login(CKU_SO) + C_InitPIN
    test_memcheck.py threads   the threads program (tests/threads) with two
                               cards, 8 workers and a thread in
                               C_WaitForSlotEvent until C_Finalize

Each client runs as `valgrind --leak-check=full --errors-for-leak-kinds=
definite --error-exitcode=99`: any invalid read or write, use of
uninitialised memory, bad free or definite leak fails the test, whoever made
it; the messages say whether a kyso-pkcs11.so frame is on the stack. The
clients' own leaks are suppressed in valgrind.supp, each with its reason.

Only the plain build can run this (valgrind cannot run ASan or TSan code):
in a sanitizer build the test says so and is skipped.

Environment: KYSO_THREADS_EXE (set by meson), KYSO_SANITIZE (b_sanitize),
KYSO_MEMCHECK_KEEP=1 keeps valgrind's logs.
"""

import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402

check = rig.check
fail = rig.fail
log = rig.log

PIN = '123456'
PUK = '12345678'
SUPP = os.path.join(HERE, 'valgrind.supp')
# For clients that never call C_Finalize (see the file).
SUPP_UNFINALIZED = os.path.join(HERE, 'valgrind-unfinalized.supp')
THREADS_EXE = os.environ.get('KYSO_THREADS_EXE',
                             os.path.join(rig.BUILD_DIR, 'tests', 'threads',
                                          'threads'))
VALGRIND_ERROR = 99
RUN_TIMEOUT = 300

# Error kinds (valgrind's XML <kind>) and what they mean here.
LEAK_KINDS = {'Leak_DefinitelyLost'}


class Memcheck:
    """Runs clients under memcheck and keeps the tally."""

    def __init__(self, env, work):
        self.env = env
        self.work = work
        self.runs = 0
        self.suppressed = 0
        self.problems = []

    def run(self, args, what, expect_rc=0, finalizes=True):
        self.runs += 1
        base = os.path.join(self.work, 'vg-%d' % self.runs)
        cmd = ['valgrind', '--tool=memcheck', '--leak-check=full',
               '--errors-for-leak-kinds=definite',
               '--show-leak-kinds=definite', '--num-callers=50',
               # Frames in the module even after the client dlclose()d it.
               '--keep-debuginfo=yes',
               '--error-exitcode=%d' % VALGRIND_ERROR,
               '--suppressions=%s' % SUPP]
        if not finalizes:
            cmd += ['--suppressions=%s' % SUPP_UNFINALIZED]
        cmd += ['--xml=yes', '--xml-file=%s.xml' % base,
                '--log-file=%s.log' % base] + [str(a) for a in args]
        res = rig.run(cmd, timeout=RUN_TIMEOUT, env=self.env)
        errors, suppressed = self._parse('%s.xml' % base)
        self.suppressed += suppressed
        vg_log = self._read('%s.log' % base)
        log('%s: client exit %s, %d memcheck errors, %d suppressed (%.1f s)'
            % (what, res.returncode, len(errors), suppressed, res.elapsed))
        for e in errors:
            self.problems.append('%s: %s' % (what, e))
        check(res.returncode != VALGRIND_ERROR or errors,
              '%s: valgrind failed the run but its XML lists no error\n%s\n%s'
              % (what, res.describe(), vg_log[-6000:]))
        if errors:
            fail('%s: memcheck found %d errors:\n\n%s\n\n--- valgrind log\n%s'
                 % (what, len(errors), '\n\n'.join(errors), vg_log[-20000:]))
        check(res.returncode == expect_rc, '%s: exit %s, expected %s\n%s'
              % (what, res.returncode, expect_rc, res.describe()))
        return res

    @staticmethod
    def _read(path):
        try:
            with open(path, errors='replace') as f:
                return f.read()
        except OSError:
            return '(no valgrind log)'

    @staticmethod
    def _parse(path):
        """The unsuppressed errors (described) and the suppressed count."""
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            fail('valgrind wrote no readable XML at %s: %s' % (path, e))
        errors = []
        for err in root.findall('error'):
            kind = err.findtext('kind') or '?'
            what = (err.findtext('what') or
                    err.findtext('xwhat/text') or '').strip()
            frames = []
            for stack in err.findall('stack'):
                for fr in stack.findall('frame'):
                    fn = fr.findtext('fn') or '???'
                    obj = os.path.basename(fr.findtext('obj') or '?')
                    where = fr.findtext('file')
                    if where:
                        where = '%s:%s' % (where, fr.findtext('line'))
                    frames.append('%s (%s%s)' % (fn, obj,
                                                 ', ' + where if where else ''))
            ours = any('kyso-pkcs11.so' in f or 'threads.c' in f
                       for f in frames)
            blame = ('kyso frames on the stack' if ours else
                     'no kyso frame: the client\'s own? then a justified '
                     'suppression in valgrind.supp')
            errors.append('%s%s: %s (%s)\n    %s'
                          % (kind, ' [leak]' if kind in LEAK_KINDS else '',
                             what, blame, '\n    '.join(frames[:30])))
        suppressed = sum(int(p.findtext('count') or 0)
                         for p in root.findall('suppcounts/pair'))
        return errors, suppressed


def tool(mc, module, *args, what, expect_rc=0, finalizes=True):
    return mc.run(['pkcs11-tool', '--module', module] + list(args), what,
                  expect_rc=expect_rc, finalizes=finalizes)


def listing(r, mc, work):
    demo(r, 0, work)
    r.start_card(1, 'unknown')
    res = tool(mc, rig.MODULE, '-L', what='pkcs11-tool -L')
    check('kyso' in res.stdout or 'token' in res.stdout.lower(),
          'pkcs11-tool -L shows no token:\n%s' % res.stdout)
    tool(mc, rig.MODULE, '-T', what='pkcs11-tool -T')
    res = tool(mc, rig.MODULE, '-O', what='pkcs11-tool -O')
    check(res.stdout.count('Certificate Object') == 4,
          'pkcs11-tool -O does not list the demo card\'s 4 certificates:\n%s'
          % res.stdout)


def crypto(r, mc, work):
    demo(r, 0, work)
    m = rig.MODULE
    res = tool(mc, m, '--login', '--pin', PIN, '--test',
               what='pkcs11-tool --login --test')
    check('No errors' in res.stdout, 'pkcs11-tool --test found errors:\n%s'
          % res.stdout)
    data = os.path.join(work, 'data')
    with open(data, 'wb') as f:
        f.write(b'kyso memcheck: signed with the Digital Signature key\n')
    # 9C: pkcs11-tool logs in again (CKU_CONTEXT_SPECIFIC) for the key.
    tool(mc, m, '--login', '--pin', PIN, '--sign', '--id', '02', '-m',
         'ECDSA-SHA256', '-i', data, '-o', os.path.join(work, 'sig'),
         what='pkcs11-tool --sign --id 02 (context login)')
    res = tool(mc, m, '--login', '--pin', '000000', '-O', expect_rc=1,
               what='pkcs11-tool --login with a wrong PIN')
    check('CKR_PIN_INCORRECT' in res.stderr, 'a wrong PIN did not fail with '
          'CKR_PIN_INCORRECT:\n%s' % res.describe())
    # pkcs11-tool 0.23 returns from main() after --change-pin without
    # C_Finalize.
    tool(mc, m, '--login', '--pin', PIN, '--change-pin', '--new-pin', PIN,
         what='pkcs11-tool --change-pin (C_SetPIN)', finalizes=False)
    tool(mc, m, '--login', '--login-type', 'so', '--so-pin', PUK, '--init-pin',
         '--new-pin', PIN, what='pkcs11-tool --init-pin (C_Login(CKU_SO), '
         'C_InitPIN)')
    tool(mc, m, '--login', '--pin', PIN, '-O',
         what='pkcs11-tool --login -O with the PIN C_InitPIN set')


def threads(r, mc, work):
    check(os.access(THREADS_EXE, os.X_OK), '%s is not built' % THREADS_EXE)
    demo(r, 0, work)
    demo(r, 1, work)
    res = mc.run([THREADS_EXE, rig.MODULE, '--threads', 8, '--ops', 160,
                  '--tokens', 2, '--pin', PIN, '--waiter', 'finalize',
                  '--finalize-limit-ms', 5000],
                 'threads program (8 workers, 2 tokens, 1 waiter)')
    log(res.stdout.rstrip())
    check('errors=0' in res.stdout, 'the threads program reported errors:\n%s'
          % res.describe())


def demo(r, index, work):
    return r.start_card(index, 'piv', state=os.path.join(
        work, 'piv-%d.state' % index), provision='demo')


SCENARIOS = {'listing': listing, 'crypto': crypto, 'threads': threads}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        fail('usage: test_memcheck.py %s' % '|'.join(SCENARIOS))
    sanitize = os.environ.get('KYSO_SANITIZE', 'none')
    if sanitize not in ('', 'none'):
        rig.skip('valgrind cannot run a module built with -Db_sanitize=%s: '
                 'run this suite in the plain build' % sanitize)
    if shutil.which('valgrind') is None:
        rig.skip('valgrind is not installed (Debian package valgrind)')
    rig.require_module()
    work = tempfile.mkdtemp(prefix='kyso-memcheck-')
    try:
        with rig.Rig(readers=2) as r:
            mc = Memcheck(dict(r.env), work)
            SCENARIOS[sys.argv[1]](r, mc, work)
            log('memcheck: %d client runs, 0 errors, %d suppressed (see '
                'valgrind*.supp)' % (mc.runs, mc.suppressed))
    finally:
        if os.environ.get('KYSO_MEMCHECK_KEEP') == '1':
            sys.stderr.write('valgrind logs kept in %s\n' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    rig.main(main)
