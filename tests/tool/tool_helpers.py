"""What the tests of the kyso tool (issue 5) share: the demo PIV card in
a rig (tests/integration/rig.py), running build/tools/kyso with the rig's
environment, on a pipe or on a real pseudo-terminal, and reading its JSON.

Each test is a script run with /usr/bin/python3 by meson (suite 'tool').
"""

import errno
import json
import os
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402  (tests/integration/rig.py)

check = rig.check
fail = rig.fail
log = rig.log

KYSO = os.path.join(rig.BUILD_DIR, 'tools', 'kyso')

# The demo card (kyso-vcard --type piv --provision demo).
PIN = '123456'
PUK = '12345678'
DEMO_SLOTS = ['9a', '9c', '9d', '9e']

# Exit codes (docs/kyso.1).
EXIT = {
    'ok': 0, 'usage': 1, 'no_token': 2, 'wrong_pin': 3, 'blocked': 4,
    'card': 5, 'file': 6, 'mismatch': 7, 'unsupported': 8, 'refused': 9,
    'canceled': 10, 'verify': 11, 'pin_policy': 12, 'not_found': 13,
    'internal': 14,
}


def workdir(name):
    return rig.workdir('tool-' + name)


def write(path, data):
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)
    return path


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def require_tool():
    if not os.access(KYSO, os.X_OK):
        fail('%s is not built (KYSO_BUILD_DIR=%s)' % (KYSO, rig.BUILD_DIR))


def start_demo_card(r, work, reader=0, name='piv', extra_args=()):
    """The demo PIV card, its state in `work`. Returns (card, state, CA
    certificate file)."""
    state = os.path.join(work, '%s.state' % name)
    card = r.start_card(reader, 'piv', state=state, provision='demo',
                        extra_args=extra_args)
    ca = state + '.ca.pem'
    check(os.path.exists(ca), 'no demo CA certificate at %s' % ca)
    return card, state, ca


def english_env(env):
    """The environment for English output whatever the machine's."""
    e = dict(env)
    for k in ('LANGUAGE', 'LC_ALL', 'LC_MESSAGES'):
        e.pop(k, None)
    e['LANG'] = 'C.UTF-8'
    return e


def vietnamese_env(env, how='LANG'):
    """Vietnamese messages: LANG=vi_VN.UTF-8 (the locale need not be
    generated: kyso falls back to C.UTF-8 and keeps the language), or
    LANGUAGE=vi with the C.UTF-8 locale."""
    e = english_env(env)
    if how == 'LANG':
        e['LANG'] = 'vi_VN.UTF-8'
    else:
        e['LANGUAGE'] = 'vi'
    return e


class Result(rig.Result):
    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            fail('kyso --json printed something that is not JSON (%s):\n%s'
                 % (e, self.describe()))


def kyso(env, *args, input=None, timeout=60, expect=None, what=None):
    """Run kyso with `args` (stdin a pipe, never a terminal). With
    `expect` (a name of EXIT or a number), the exit code must be that."""
    cmd = [KYSO] + [str(a) for a in args]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, input=input, capture_output=True,
                           text=True, timeout=timeout,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        fail('`%s` did not finish within %s s (stdout %r, stderr %r)'
             % (' '.join(cmd), timeout, e.stdout, e.stderr))
    res = Result(cmd, p.returncode, p.stdout, p.stderr,
                 time.monotonic() - start)
    if expect is not None:
        code = EXIT[expect] if isinstance(expect, str) else expect
        check(res.returncode == code, '%s: expected exit code %d, got %d\n%s'
              % (what or ' '.join(args), code, res.returncode,
                 res.describe()))
    return res


def kyso_json(env, *args, expect='ok', what=None, input=None):
    res = kyso(env, '--json', *args, expect=expect, what=what, input=input)
    doc = res.json()
    check(doc.get('schema') == 1, 'JSON without schema 1: %s' % doc)
    check(doc.get('exit_code') == res.returncode,
          'JSON exit_code %s but the process exited %d'
          % (doc.get('exit_code'), res.returncode))
    check(doc.get('ok') == (res.returncode == 0), 'JSON ok is wrong: %s' % doc)
    return doc


def pin_tries(env):
    """(PIN tries left, PUK tries left), from a new kyso process."""
    doc = kyso_json(env, 'pin', 'status', what='kyso pin status --json')
    return doc['pin']['tries_left'], doc['puk']['tries_left']


def snapshot(env):
    """What the card holds, as kyso list --json says: the keys and
    certificates (fingerprints) of the token, and the PIN counters."""
    doc = kyso_json(env, 'list', what='kyso list --json')
    toks = [rd for rd in doc['readers'] if rd.get('supported')]
    check(len(toks) == 1, 'expected one token in kyso list: %s' % doc)
    t = toks[0]
    keys = sorted((k['slot'], (k['key'] or {}).get('type'),
                   (k['key'] or {}).get('bits'),
                   (k['certificate'] or {}).get('sha256'))
                  for k in t['keys'])
    return {'keys': keys, 'pin': t['pin']['tries_left'],
            'puk': t['puk']['tries_left']}


# ------------------------------------------------------------ the terminal

class Pty:
    """kyso on a real pseudo-terminal: os.openpty(), and `setsid --ctty`
    makes the terminal the process's controlling terminal, so that kyso's
    /dev/tty is this pty (not a pipe). The test reads what kyso shows and
    types as a user would."""

    def __init__(self, env, *args, timeout=60):
        self.master, slave = os.openpty()
        cmd = ['setsid', '--ctty', '--wait', KYSO] + [str(a) for a in args]
        self.cmd = cmd
        self.proc = subprocess.Popen(rig._die_with_parent(cmd), stdin=slave,
                                     stdout=slave, stderr=slave, env=env,
                                     close_fds=True)
        os.close(slave)
        self.data = b''
        self.pos = 0
        self.deadline = time.monotonic() + timeout
        self.eof = False

    def _read(self, timeout):
        if self.eof:
            return False
        r, _, _ = select.select([self.master], [], [], max(0, timeout))
        if not r:
            return False
        try:
            chunk = os.read(self.master, 4096)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            chunk = b''
        if not chunk:
            self.eof = True
            return False
        self.data += chunk
        return True

    def text(self):
        return self.data.decode('utf-8', errors='replace')

    def expect(self, what, timeout=20):
        """Wait until `what` (str) shows after what was already matched."""
        want = what.encode()
        end = min(self.deadline, time.monotonic() + timeout)
        while True:
            i = self.data.find(want, self.pos)
            if i >= 0:
                self.pos = i + len(want)
                return
            left = end - time.monotonic()
            if left <= 0 or (self.eof and not self._read(0)):
                self.kill()
                fail('%r never showed on the terminal of `%s`; it showed:\n%s'
                     % (what, ' '.join(self.cmd), self.text()))
            self._read(min(left, 0.2))

    def send(self, s):
        # Typed after the prompt: kyso switched echo off before showing it.
        os.write(self.master, s.encode())

    def finish(self, timeout=30):
        end = time.monotonic() + timeout
        while not self.eof and time.monotonic() < end:
            self._read(0.2)
        try:
            rc = self.proc.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            fail('`%s` did not finish; terminal:\n%s'
                 % (' '.join(self.cmd), self.text()))
        os.close(self.master)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
