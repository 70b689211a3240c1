#!/usr/bin/python3
"""Issue 4, acceptance: two programs using one ePass2003 at once (OpenSC
#558: the second program's secure-messaging session replaces the first's
and the first then meets 6988). One process signs over and over with
pkcs11-tool while another lists the objects over and over: every run of
both succeeds, and each signature verifies.

Then a long-lived session (PyKCS11 in this process) while other programs
come and go: after another program opened its own session, kyso opens
SM again by itself and goes on reading the token; the card dropped the
PIN with our session, so the next signature is CKR_USER_NOT_LOGGED_IN
(kyso never sends the PIN again on its own) and the session is logged out;
a new C_Login signs again. The same after a reset by another program.

And the file kyso had selected: kyso remembers the DF it left from one
PKCS#11 call to the next (no one can select elsewhere without ending its
SM session); a process that read the token info, then met another
program's session, still lists every object (it selects from the MF
again)."""

import os
import subprocess
import threading

import ep_helpers as h
from ep_helpers import call, check, expect_rv, log, rig


def long_lived_session(r, env, reader):
    P = h.pykcs11()
    lib = h.load_module()
    slot = h.slot_of(lib, reader)
    s = call(lambda: lib.openSession(slot, P.CKF_SERIAL_SESSION), 'C_OpenSession')
    call(lambda: s.login(h.PIN), 'C_Login')
    mech = P.Mechanism(P.CKM_SHA256_RSA_PKCS)
    keys = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
    check(len(keys) == 2, '%d private keys' % len(keys))
    key = keys[0]
    call(lambda: s.sign(key, b'one', mech), 'C_Sign before the other program')

    # Another program opens its own secure-messaging session.
    h.tool(env, '-O', what='the other program')
    certs = call(lambda: s.findObjects([(P.CKA_CLASS, P.CKO_CERTIFICATE)]),
                 'C_FindObjects after the other program')
    check(len(certs) == 2, '%d certificates after the other program' % len(certs))
    expect_rv(lambda: s.sign(key, b'two', mech), 'CKR_USER_NOT_LOGGED_IN',
              'C_Sign after the other program opened its own session')
    check(s.getSessionInfo().state == P.CKS_RO_PUBLIC_SESSION,
          'session state %s, expected logged out' % s.getSessionInfo().state)
    call(lambda: s.login(h.PIN), 'C_Login again')
    call(lambda: s.sign(key, b'three', mech), 'C_Sign after logging in again')
    log('another program\'s session: SM re-opened, PIN not resent, a new login signs')

    rig.Pcsc().reset(r.reader_name(0))
    expect_rv(lambda: s.sign(key, b'four', mech), 'CKR_USER_NOT_LOGGED_IN',
              'C_Sign after a reset by another program')
    call(lambda: s.login(h.PIN), 'C_Login after the reset')
    call(lambda: s.sign(key, b'five', mech), 'C_Sign after the reset')
    log('a reset by another program: a new login signs')
    s.closeSession()


# C_GetTokenInfo (the vendor label: DF 2003 selected), another program
# (OpenSC: its own SM session; it looks for PKCS#15 from the MF and leaves
# another DF selected), then this process's object listing.
SELECTION_SCRIPT = """
import os, subprocess, sys
import PyKCS11
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = lib.getSlotList(tokenPresent=True)[0]
print('label', lib.getTokenInfo(slot).label.strip())
other = subprocess.run(['pkcs11-tool', '--module', sys.argv[2], '-L'], capture_output=True,
                       text=True)
print('other', other.returncode, 'token not recognized' in other.stdout)
s = lib.openSession(slot)
print('objects', len(s.findObjects()))
"""


def selection_after_other(r, work):
    env = h.opensc_env(r, work)
    res = h.run_ok(['/usr/bin/python3', '-c', SELECTION_SCRIPT, h.MODULE, h.OPENSC_MODULE],
                   env, 'token info, another program, objects')
    check('other 0 True' in res.stdout and 'objects 4' in res.stdout,
          'after another program used the token between two calls:\n%s' % res.describe())
    log('a DF kept between calls: after another program\'s session, kyso selects '
        'from the MF again and lists every object')


def test():
    work = h.workdir('ep-two')
    with rig.Rig(readers=2) as r:
        card, _, _ = h.start_token(r, work, 'vendor')
        env = r.env
        objs, _ = h.objects(env, what='pkcs11-tool -O')
        key_id = sorted(o['ID'] for o in objs if o['kind'] == 'cert')[0]
        cert = os.path.join(work, 'cert.der')
        pub = os.path.join(work, 'pub.pem')
        h.tool(env, '--read-object', '--type', 'cert', '--id', key_id, '--output-file', cert)
        h.openssl(env, 'x509', '-inform', 'DER', '-in', cert, '-noout', '-pubkey', '-out', pub)
        data = h.write(os.path.join(work, 'data'), b'two programs, one token\n')

        stop = threading.Event()
        lister = {'runs': 0, 'failures': []}

        def list_forever():
            while not stop.is_set():
                res = rig.pkcs11_tool(h.MODULE, '-O', env=env, timeout=60)
                lister['runs'] += 1
                if res.returncode != 0 or 'Certificate Object' not in res.stdout:
                    lister['failures'].append(res.describe())

        t = threading.Thread(target=list_forever)
        t.start()
        failures = []
        try:
            # At least 15 signatures, and on until the lister has run
            # a few times beside them.
            i = 0
            while i < 15 or (lister['runs'] < 3 and i < 200):
                i += 1
                sig = os.path.join(work, 'sig%d' % i)
                res = rig.pkcs11_tool(h.MODULE, '--login', '--pin', h.PIN, '--sign',
                                      '--id', key_id, '-m', 'SHA256-RSA-PKCS',
                                      '--input-file', data, '--output-file', sig,
                                      env=env, timeout=60)
                if res.returncode != 0:
                    failures.append(res.describe())
                    continue
                v = subprocess.run(['openssl', 'dgst', '-sha256', '-verify', pub,
                                    '-signature', sig, data], capture_output=True)
                if v.returncode != 0:
                    failures.append('signature %d does not verify' % i)
        finally:
            stop.set()
            t.join()
        check(not failures, 'signing while another process lists:\n%s'
              % '\n'.join(failures[:3]))
        check(not lister['failures'], 'listing while another process signs:\n%s'
              % '\n'.join(lister['failures'][:3]))
        check(lister['runs'] >= 2, 'the lister ran only %d times' % lister['runs'])
        log('%d signatures and %d listings side by side, all good' % (i, lister['runs']))

        long_lived_session(r, env, card.reader)
        selection_after_other(r, work)


if __name__ == '__main__':
    rig.main(test)
