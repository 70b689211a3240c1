"""Many threads on one module (issue 7, item 4): runs the `threads` program
(threads.c) against the demo virtual PIV card(s) in a private pcscd.

    test_threads.py one_token       16 workers on one token; one more thread
                                    in C_WaitForSlotEvent is woken by a card
                                    put in the second reader while the
                                    workers sign, then by C_Finalize
    test_threads.py two_tokens      16 workers on two cards in two readers;
                                    the waiting thread is woken by C_Finalize
    test_threads.py waiters         like one_token with three threads in
                                    C_WaitForSlotEvent at once (they take
                                    turns on the module's PC/SC context)
    test_threads.py finalize_idle   no workers: C_Finalize while a thread
                                    waits in C_WaitForSlotEvent

Every signature must verify (C_Verify and OpenSSL), no call may fail, the
waiting thread must come back with CKR_CRYPTOKI_NOT_INITIALIZED promptly,
and in sanitizer builds no report may appear (TSan: halt_on_error, exit 66).

Environment: KYSO_THREADS_EXE (the program, set by meson), KYSO_THREADS_OPS
(signatures per run, default 3200), KYSO_THREADS_COUNT (workers, default 16).
"""

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402

check = rig.check
fail = rig.fail
log = rig.log

PIN = '123456'
EXE = os.environ.get('KYSO_THREADS_EXE',
                     os.path.join(rig.BUILD_DIR, 'tests', 'threads', 'threads'))
OPS = int(os.environ.get('KYSO_THREADS_OPS', '3200'))
THREADS = int(os.environ.get('KYSO_THREADS_COUNT', '16'))
RUN_TIMEOUT = 240
# How long the waiting thread may take to return once C_Finalize starts.
FINALIZE_LIMIT_MS = 2000

SANITIZER_REPORT = re.compile(r'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|'
                              r'ERROR: LeakSanitizer|runtime error:')


class Program:
    """The threads program, its output read line by line as it comes."""

    def __init__(self, args, env):
        self.cmd = [EXE, rig.MODULE] + [str(a) for a in args]
        log('running: %s' % ' '.join(self.cmd))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(rig._die_with_parent(self.cmd), env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.out = []
        self.err = []
        self._t_out = threading.Thread(target=self._pump,
                                       args=(self.proc.stdout, self.out, True),
                                       daemon=True)
        self._t_err = threading.Thread(target=self._pump,
                                       args=(self.proc.stderr, self.err, False),
                                       daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _pump(self, stream, keep, queued):
        for line in stream:
            keep.append(line)
            if queued:
                self.lines.put(line.rstrip('\n'))
        if queued:
            self.lines.put(None)

    def wait_line(self, pattern, timeout):
        """The first line of stdout matching `pattern`, or a failure."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                fail('the threads program printed no line matching %r within '
                     '%s s\n%s' % (pattern, timeout, self.describe()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.finish(timeout=10)
                fail('the threads program ended before printing %r\n%s'
                     % (pattern, self.describe()))
            if re.search(pattern, line):
                return line

    def finish(self, timeout=RUN_TIMEOUT):
        try:
            self.proc.wait(timeout=max(1, timeout - (time.monotonic() - self.start)))
        except subprocess.TimeoutExpired:
            self.kill()
            fail('the threads program did not finish within %s s (a hang?)\n%s'
                 % (timeout, self.describe()))
        self._t_out.join(10)
        self._t_err.join(10)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._t_out.join(10)
        self._t_err.join(10)

    def describe(self):
        return ('`%s` exit %s after %.1f s\n--- stdout\n%s--- stderr\n%s'
                % (' '.join(self.cmd), self.proc.returncode,
                   time.monotonic() - self.start, ''.join(self.out),
                   ''.join(self.err)[-20000:]))


def result(prog):
    """The RESULT line as a dict of numbers."""
    for line in prog.out:
        if line.startswith('RESULT '):
            return {k: float(v) for k, v in
                    (kv.split('=', 1) for kv in line.split()[1:])}
    fail('no RESULT line\n%s' % prog.describe())


def check_run(prog, want_ops, want_rejected=True):
    rc = prog.finish()
    text = ''.join(prog.out) + ''.join(prog.err)
    log(''.join(prog.out).rstrip())
    m = SANITIZER_REPORT.search(text)
    check(m is None, 'a sanitizer report (%r)\n%s' % (m and m.group(0), prog.describe()))
    check(rc == 0, 'the threads program failed\n%s' % prog.describe())
    res = result(prog)
    check(res['errors'] == 0, '%d errors\n%s' % (res['errors'], prog.describe()))
    check(res['signatures'] >= want_ops,
          '%d signatures, want %d' % (res['signatures'], want_ops))
    check(res['verified_p11'] == res['signatures'] == res['verified_ossl'],
          'not every signature verified: %s' % res)
    if want_rejected and want_ops > 0:
        check(res['rejected'] > 0, 'no corrupted signature was refused: %s' % res)
    check(0 <= res['finalize_wake_ms'] < FINALIZE_LIMIT_MS,
          'C_WaitForSlotEvent came back %.1f ms after C_Finalize' % res['finalize_wake_ms'])
    return res


def start_demo(r, index, work):
    state = os.path.join(work, 'piv-%d.state' % index)
    return r.start_card(index, 'piv', state=state, provision='demo')


def one_token(r, env, work, waiters=1, ops=OPS):
    start_demo(r, 0, work)
    reader = r.reader_name(1)
    prog = Program(['--threads', THREADS, '--ops', ops, '--tokens', 1,
                    '--pin', PIN, '--waiter', 'event', '--event-reader', reader,
                    '--waiters', waiters,
                    '--finalize-limit-ms', FINALIZE_LIMIT_MS], env)
    prog.wait_line(r'^threads: waiting for a card event', RUN_TIMEOUT)
    # The card goes into the empty reader while the workers sign; a
    # waiting thread must see it.
    r.start_card(1, 'unknown')
    res = check_run(prog, ops)
    check(res['waiters'] == waiters, '%d waiting threads, want %d'
          % (res['waiters'], waiters))
    check(res['events'] >= 1, 'no waiting thread saw an event: %s' % res)
    check(any('(the event reader)' in line for line in prog.out),
          'no event for %s\n%s' % (reader, prog.describe()))


def waiters(r, env, work):
    # Before the waits took turns, a second thread in C_WaitForSlotEvent
    # hung every PC/SC call of the process (pcsc-lite's global lock), the
    # workers' and C_Finalize's included: this run then never ends.
    one_token(r, env, work, waiters=3, ops=max(OPS // 4, 1))


def two_tokens(r, env, work):
    start_demo(r, 0, work)
    start_demo(r, 1, work)
    prog = Program(['--threads', THREADS, '--ops', OPS, '--tokens', 2,
                    '--pin', PIN, '--waiter', 'finalize',
                    '--finalize-limit-ms', FINALIZE_LIMIT_MS], env)
    check_run(prog, OPS)


def finalize_idle(r, env, work):
    start_demo(r, 0, work)
    prog = Program(['--threads', 0, '--ops', 0, '--tokens', 1, '--pin', PIN,
                    '--waiter', 'finalize',
                    '--finalize-limit-ms', FINALIZE_LIMIT_MS], env)
    check_run(prog, 0, want_rejected=False)


SCENARIOS = {'one_token': one_token, 'two_tokens': two_tokens,
             'waiters': waiters, 'finalize_idle': finalize_idle}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        fail('usage: test_threads.py %s' % '|'.join(SCENARIOS))
    rig.require_module()
    check(os.access(EXE, os.X_OK), '%s is not built' % EXE)
    work = tempfile.mkdtemp(prefix='kyso-threads-')
    try:
        with rig.Rig(readers=2) as r:
            SCENARIOS[sys.argv[1]](r, dict(r.env), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    rig.main(main)
