#!/usr/bin/python3
"""Two processes, each with kyso loaded (PyKCS11), use one token at the
same time.

kyso holds a PC/SC transaction only for the length of one operation, so the
two interleave on the card command by command; a PIV card's PIN status is
one for the whole card (SP 800-73-4 pt 2, 3.2.1), so one process logging
out (VERIFY FF) logs the other out too, and a reset by anyone logs out
everyone. What must hold:

1. Both log in, then sign and verify RSA-2048 (9A) and P-256 (9C)
   signatures at the same time, ROUNDS rounds each, then log out: every
   signature verifies, and each process sent exactly as many VERIFY APDUs
   with a PIN as it made C_Login calls (one user login, and one
   context-specific login per 9C signature: that key asks for the PIN at
   each use, SP 800-73-4 pt 1, 3.2.2).
2. ROUNDS rounds each of login, sign, verify, logout at the same time: the
   other's logout can come between a login and a signature, which then
   fails with CKR_USER_NOT_LOGGED_IN; the process logs in again (as an
   application would) and goes on. Every round ends with a verified
   signature, and the VERIFY APDUs with a PIN that each process sent
   (its KYSO_DEBUG log) are exactly its C_Login calls: kyso never sends
   the PIN by itself.
3. One process logs out while the other is logged in: the other's next
   signature fails with CKR_USER_NOT_LOGGED_IN and its session is public
   again (kyso believes the card), so that its C_Login sends the PIN
   again rather than failing with CKR_USER_ALREADY_LOGGED_IN.
4. One process resets the card (SCardDisconnect with SCARD_RESET_CARD,
   what some middleware does): the other's next signature fails with
   CKR_USER_NOT_LOGGED_IN, its session shows the login gone, it logs in
   again and signs.

The workers are this script with --worker, driven line by line over their
stdin/stdout by the test, so that phases start together and end together.
"""

import json
import os
import re
import subprocess
import sys
import time

ROUNDS = 50
# An application's think time between two calls. Without it one process
# would run all its rounds while the other waits: pcsc-lite's client retries
# a SCardBeginTransaction on a card in another's transaction only every
# 100 ms (PCSCLITE_LOCK_POLL_RATE), so a process that never pauses keeps the
# card. With it, the two interleave; the test counts how often the card
# went from one process's signature to the other's (turns).
PAUSE_S = 0.02
# Fewer turns than this and the two did not really run side by side.
MIN_TURNS = 10
PIN = '123456'
# A VERIFY carrying data (a PIN), in kyso's debug log: the header and Lc
# stay visible, the data is masked (common/log.c).
VERIFY_WITH_PIN = re.compile(r'APDU > [0-9A-F]{2} 20 00 [0-9A-F]{2} [0-9A-F]{2} \*\*')


# ------------------------------------------------------------ the worker

def worker(module):
    import ctypes

    import PyKCS11

    mech_rsa = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
    mech_ec = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    stats = {'logins': 0, 'signatures': 0, 'verified': 0, 'lost_login': 0}
    # When each signature was made (CLOCK_MONOTONIC is one for all
    # processes): the test merges both lists to see the interleaving.
    times = []
    state = {'session': None, 'keys': None}

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()

    def keys(s):
        out = {}
        for kid in (1, 2):
            pair = []
            for cls in (PyKCS11.CKO_PRIVATE_KEY, PyKCS11.CKO_PUBLIC_KEY):
                objs = s.findObjects([(PyKCS11.CKA_CLASS, cls),
                                      (PyKCS11.CKA_ID, (kid,))])
                if len(objs) != 1:
                    raise RuntimeError('key %d: %d objects of class %d'
                                       % (kid, len(objs), cls))
                pair.append(objs[0])
            out[kid] = pair
        return out

    def login():
        stats['logins'] += 1
        state['session'].login(PIN)
        time.sleep(PAUSE_S)

    def sign_round(n):
        """Sign and verify with key 01 (RSA) or 02 (EC, PIN always),
        logging in again when the card lost the login."""
        s = state['session']
        kid = 1 if n % 2 == 0 else 2
        data = b'round %d of process %d' % (n, os.getpid())
        for _ in range(20):
            try:
                if state['keys'] is None:
                    state['keys'] = keys(s)
                priv, pub = state['keys'][kid]
                mech = mech_rsa if kid == 1 else mech_ec
                if kid == 2:
                    # 9C asks for the PIN right before each use (SP 800-73-4
                    # pt 1, 3.2.2): CKA_ALWAYS_AUTHENTICATE, a context login.
                    sig = sign_always_auth(s, priv, data)
                else:
                    sig = s.sign(priv, data, mech)
                stats['signatures'] += 1
                times.append(time.monotonic())
                if not s.verify(pub, data, sig, mech):
                    raise RuntimeError('round %d: the signature with key %d '
                                       'does not verify' % (n, kid))
                stats['verified'] += 1
                time.sleep(PAUSE_S)
                return
            except PyKCS11.PyKCS11Error as e:
                if e.value != PyKCS11.CKR_USER_NOT_LOGGED_IN:
                    raise
                # The other process logged the card out (or reset it) in
                # between: the application logs in again.
                stats['lost_login'] += 1
                info = s.getSessionInfo()
                if info.state in (PyKCS11.CKS_RO_USER_FUNCTIONS,
                                  PyKCS11.CKS_RW_USER_FUNCTIONS):
                    # Only the context login was lost (9C).
                    continue
                login()
        raise RuntimeError('round %d: the login kept getting lost' % n)

    def sign_always_auth(s, priv, data):
        # PyKCS11 has no context-specific login inside an operation: do it
        # through its low-level API: C_SignInit, C_Login(CONTEXT), C_Sign.
        m = mech_ec.to_native()
        rv = s.lib.C_SignInit(s.session, m, priv)
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
        stats['logins'] += 1
        rv = s.lib.C_Login(s.session, PyKCS11.CKU_CONTEXT_SPECIFIC,
                           PyKCS11.ckbytelist(PIN))
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
        sig = PyKCS11.ckbytelist()
        rv = s.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
        if rv == PyKCS11.CKR_OK:
            rv = s.lib.C_Sign(s.session, PyKCS11.ckbytelist(data), sig)
        if rv != PyKCS11.CKR_OK:
            raise PyKCS11.PyKCS11Error(rv)
        return sig

    def logout():
        time.sleep(PAUSE_S)
        try:
            state['session'].logout()
        except PyKCS11.PyKCS11Error as e:
            # The other process's logout or reset got there first.
            if e.value != PyKCS11.CKR_USER_NOT_LOGGED_IN:
                raise

    def reset_card(reader):
        pcsc = ctypes.CDLL('libpcsclite.so.1')
        ctx = ctypes.c_long()
        card = ctypes.c_long()
        proto = ctypes.c_ulong()
        pcsc.SCardEstablishContext.argtypes = [
            ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_long)]
        pcsc.SCardConnect.argtypes = [
            ctypes.c_long, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong,
            ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_ulong)]
        pcsc.SCardDisconnect.argtypes = [ctypes.c_long, ctypes.c_ulong]
        pcsc.SCardReleaseContext.argtypes = [ctypes.c_long]
        rv = pcsc.SCardEstablishContext(2, None, None, ctypes.byref(ctx))
        if rv != 0:
            raise RuntimeError('SCardEstablishContext: 0x%X' % (rv & 0xFFFFFFFF))
        try:
            rv = pcsc.SCardConnect(ctx, reader.encode(), 2, 3, ctypes.byref(card),
                                   ctypes.byref(proto))
            if rv != 0:
                raise RuntimeError('SCardConnect: 0x%X' % (rv & 0xFFFFFFFF))
            rv = pcsc.SCardDisconnect(card, 1)      # SCARD_RESET_CARD
            if rv != 0:
                raise RuntimeError('SCardDisconnect: 0x%X' % (rv & 0xFFFFFFFF))
        finally:
            pcsc.SCardReleaseContext(ctx)

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == 'open':
                slots = lib.getSlotList(tokenPresent=True)
                if len(slots) != 1:
                    raise RuntimeError('slots with a token: %s' % slots)
                state['session'] = lib.openSession(slots[0],
                                                   PyKCS11.CKF_SERIAL_SESSION)
                reply({'ok': True})
            elif cmd[0] == 'login':
                login()
                reply({'ok': True})
            elif cmd[0] == 'sign':
                for n in range(int(cmd[1])):
                    sign_round(n)
                reply({'ok': True})
            elif cmd[0] == 'cycle':
                for n in range(int(cmd[1])):
                    login()
                    sign_round(n)
                    logout()
                reply({'ok': True})
            elif cmd[0] == 'logout':
                logout()
                reply({'ok': True})
            elif cmd[0] == 'reset':
                reset_card(' '.join(cmd[1:]))
                reply({'ok': True})
            elif cmd[0] == 'sign-lost':
                # The card lost this process's login (the other logged it
                # out, or reset it). What an application sees: the next
                # private-key operation fails, the session is public
                # again; it logs in and signs.
                s = state['session']
                priv = state['keys'][1][0]
                try:
                    s.sign(priv, b'after the reset', mech_rsa)
                    first = 'CKR_OK'
                except PyKCS11.PyKCS11Error as e:
                    first = PyKCS11.CKR.get(e.value, hex(e.value))
                    if e.value == PyKCS11.CKR_USER_NOT_LOGGED_IN:
                        stats['lost_login'] += 1
                after = s.getSessionInfo().state
                login()
                sign_round(0)
                reply({'ok': True, 'first': first,
                       'state': PyKCS11.CKS.get(after, after)})
            elif cmd[0] == 'stats':
                reply({'ok': True, 'stats': stats, 'times': times})
            elif cmd[0] == 'quit':
                state['session'].closeSession()
                lib.lib.C_Finalize()
                reply({'ok': True})
                return
            else:
                reply({'ok': False, 'error': 'unknown command %r' % cmd})
        except Exception as e:      # reported to the test, which fails
            reply({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)})


# -------------------------------------------------------------- the test

def test():
    import robust
    from robust import check, fail, log, rig

    class Worker:
        def __init__(self, name, env, debug_log):
            self.name = name
            self.debug_log = debug_log
            self.proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), '--worker',
                 robust.MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env)

        def send(self, cmd):
            self.proc.stdin.write(cmd + '\n')
            self.proc.stdin.flush()

        def result(self, what, timeout=120):
            # The rig's run() bounds subprocesses; here a watchdog in the
            # test (faulthandler) and the meson timeout do.
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                fail('%s died during %s (status %s):\n%s'
                     % (self.name, what, self.proc.returncode,
                        self.proc.stderr.read()))
            res = json.loads(line)
            check(res.get('ok'), '%s, %s: %s' % (self.name, what, res.get('error')))
            return res

        def verify_apdus(self):
            with open(self.debug_log, encoding='utf-8', errors='replace') as f:
                return sum(1 for ln in f if VERIFY_WITH_PIN.search(ln))

        def finish(self):
            self.send('quit')
            self.result('quit')
            self.proc.wait(timeout=30)
            err = self.proc.stderr.read()
            rep = robust.sanitizer_report(err)
            check(rep is None, '%s: sanitizer report: %s\n%s' % (self.name, rep, err))
            check(self.proc.returncode == 0, '%s exited %s:\n%s'
                  % (self.name, self.proc.returncode, err))

    def both(workers, cmd, what):
        start = time.monotonic()
        for w in workers:
            w.send(cmd)
        out = [w.result(what) for w in workers]
        return out, time.monotonic() - start

    def switches(results):
        """How often the card went from one process's signature to the
        other's."""
        seq = sorted((t, i) for i, res in enumerate(results)
                     for t in res['times'])
        return sum(1 for x, y in zip(seq, seq[1:]) if x[1] != y[1])

    def stats(workers):
        for w in workers:
            w.send('stats')
        return [w.result('stats') for w in workers]

    import faulthandler
    faulthandler.dump_traceback_later(170, exit=True)
    rig.require_module()
    work = robust.workdir('two-proc')
    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'piv', state=os.path.join(work, 'piv.state'),
                            provision='demo')
        workers = []
        for name in ('A', 'B'):
            dlog = os.path.join(work, 'kyso-%s.log' % name)
            env = dict(r.env, KYSO_DEBUG='1', KYSO_DEBUG_FILE=dlog)
            workers.append(Worker(name, env, dlog))
        a, b = workers
        both(workers, 'open', 'C_OpenSession')
        apdus0 = card.apdu_count()

        # 1. One login each, then signatures side by side.
        both(workers, 'login', 'C_Login')
        _, t1 = both(workers, 'sign %d' % ROUNDS, 'signing')
        both(workers, 'logout', 'C_Logout')
        stats1 = stats(workers)
        for w, st in zip(workers, stats1):
            st = st['stats']
            check(st['verified'] == ROUNDS, '%s: %d of %d signatures verified'
                  % (w.name, st['verified'], ROUNDS))
            check(w.verify_apdus() == st['logins'], '%s: %d VERIFY APDUs with '
                  'a PIN for %d C_Login calls' % (w.name, w.verify_apdus(),
                                                  st['logins']))
        sw1 = switches(stats1)
        check(sw1 >= MIN_TURNS, 'phase 1: the processes took turns only %d '
              'times in %d signatures: they did not run side by side'
              % (sw1, 2 * ROUNDS))
        log('phase 1: %d + %d signatures side by side in %.1f s (%d turns), '
            'all verified; VERIFY with a PIN: A %d, B %d = their C_Login calls '
            '(%d, %d)' % (ROUNDS, ROUNDS, t1, sw1, a.verify_apdus(),
                          b.verify_apdus(), stats1[0]['stats']['logins'],
                          stats1[1]['stats']['logins']))

        # 2. Login, sign, logout, ROUNDS times each, at the same time.
        _, t2 = both(workers, 'cycle %d' % ROUNDS, 'login/sign/logout rounds')
        stats2 = stats(workers)
        lost = 0
        for w, st0, st in zip(workers, stats1, stats2):
            st0, st = st0['stats'], st['stats']
            check(st['verified'] - st0['verified'] == ROUNDS, '%s: %d of %d '
                  'rounds verified' % (w.name, st['verified'] - st0['verified'],
                                       ROUNDS))
            check(w.verify_apdus() == st['logins'], '%s: %d VERIFY APDUs with '
                  'a PIN for %d C_Login calls' % (w.name, w.verify_apdus(),
                                                  st['logins']))
            lost += st['lost_login'] - st0['lost_login']
        sw2 = switches(stats2) - sw1
        check(sw2 >= MIN_TURNS, 'phase 2: the processes took turns only %d '
              'times: they did not run side by side' % sw2)
        log('phase 2: %d + %d login/sign/logout rounds at once in %.1f s (%d '
            'turns), all verified; logins lost to the other process and made '
            'again: %d; VERIFY with a PIN = C_Login calls: A %d, B %d'
            % (ROUNDS, ROUNDS, t2, sw2, lost, a.verify_apdus(), b.verify_apdus()))

        # 3. A logs out while B is logged in: the card's PIN status is one
        # for both, so B's next signature is refused; B logs in again.
        both(workers, 'login', 'C_Login before A logs out')
        a.send('logout')
        a.result('A logging out')
        b.send('sign-lost')
        res = b.result('B signing after A logged out')
        check(res['first'] == 'CKR_USER_NOT_LOGGED_IN', 'B signing after A '
              'logged out: %s, expected CKR_USER_NOT_LOGGED_IN' % res['first'])
        check(res['state'] == 'CKS_RO_PUBLIC_SESSION', 'B\'s session after '
              'the card refused its key: %s, expected CKS_RO_PUBLIC_SESSION '
              '(kyso believes the card)' % res['state'])
        b.send('logout')
        b.result('B logging out')
        log('phase 3: A logged out under B: B: %s, session %s, logged in '
            'again and signed' % (res['first'], res['state']))

        # 4. A resets the card: B's login is gone, B logs in again.
        both(workers, 'login', 'C_Login before the reset')
        a.send('reset %s' % r.reader_name(0))
        a.result('the reset')
        b.send('sign-lost')
        res = b.result('signing after the reset')
        check(res['first'] == 'CKR_USER_NOT_LOGGED_IN', 'B signing after A '
              'reset the card: %s, expected CKR_USER_NOT_LOGGED_IN' % res['first'])
        check(res['state'] == 'CKS_RO_PUBLIC_SESSION', 'B\'s session after the '
              'reset: %s, expected CKS_RO_PUBLIC_SESSION' % res['state'])
        a.send('sign-lost')
        res_a = a.result('A signing after its own reset')
        stats3 = stats(workers)
        for w, st in zip(workers, stats3):
            check(w.verify_apdus() == st['stats']['logins'], '%s: %d VERIFY '
                  'APDUs with a PIN for %d C_Login calls'
                  % (w.name, w.verify_apdus(), st['stats']['logins']))
        log('phase 4: A reset the card; B: %s, session %s, logged in again and '
            'signed; A: %s, likewise' % (res['first'], res['state'], res_a['first']))

        for w in workers:
            w.finish()
        apdus = card.apdu_count() - apdus0
        total = [st['stats'] for st in stats3]
        log('two processes: %d signatures, all verified; %d C_Login calls, %d '
            'VERIFY APDUs with a PIN; %d logins lost to the other process and '
            'made again; %d '
            'APDUs at the card' % (sum(t['verified'] for t in total),
                                   sum(t['logins'] for t in total),
                                   a.verify_apdus() + b.verify_apdus(),
                                   sum(t['lost_login'] for t in total), apdus))
    faulthandler.cancel_dump_traceback_later()


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--worker':
        worker(sys.argv[2])
    else:
        HERE = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, HERE)
        import robust  # noqa: F401  (re-executes with the sanitizer runtime)
        robust.rig.main(test)
