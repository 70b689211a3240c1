#!/usr/bin/python3
"""Pulled tokens and dead daemons, one module loaded once (PyKCS11 in this
process, never reloaded):

1. The card pulled in the middle of an RSA-2048 signature: kyso-vcard
   --drop-after N hangs up after N APDUs, N chosen at every cut point of
   C_Sign's APDU sequence (before its first APDU, after the first piece
   of the chained GENERAL AUTHENTICATE, after the last piece, i.e. before
   the GET RESPONSE). The signing call returns CKR_DEVICE_REMOVED, the
   session is gone (CKR_SESSION_HANDLE_INVALID), the slot shows no token;
   the card put back (same --state) signs again.
   Then the card pulled between calls, pcscd aware of it: C_VerifyInit,
   C_DecryptInit and C_SignInit return CKR_DEVICE_REMOVED (their
   mechanism check runs under a card transaction) and nothing touches the
   session that went with the token (the sanitizer build checks that).
2. pcscd killed (SIGKILL) under a logged-in session: every call returns an
   error at once (no hang), and once pcscd is back the same slot lists its
   token, logs in and signs.
3. C_WaitForSlotEvent blocked while pcscd dies (it reports the slot) and
   while it comes back (it reports the slot again, with its token).
4. The reader unplugged (pcscd restarted without it) and plugged back.

Every call that fails is timed: none may take more than CALL_LIMIT_S.
"""

import faulthandler
import os
import queue
import threading
import time

import PyKCS11

import robust
from robust import check, fail, log, rig

import p11  # noqa: E402  (tests/integration/p11.py, on the path via robust)

CALL_LIMIT_S = 10.0
# The slowest call that failed, for the figures.
slowest_error = [0.0, '']
DATA = b'kyso robustness: removal'
MECH = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)


def ckr(rv):
    return PyKCS11.CKR.get(rv, '0x%X' % rv)


def expect_error(what, codes, fn, *args):
    """fn(*args) must fail with one of `codes`, within CALL_LIMIT_S.
    Returns the code."""
    start = time.monotonic()
    try:
        fn(*args)
    except PyKCS11.PyKCS11Error as e:
        elapsed = time.monotonic() - start
        check(e.value in codes, '%s: got %s, expected %s'
              % (what, e, ' or '.join(ckr(c) for c in codes)))
        check(elapsed < CALL_LIMIT_S, '%s took %.1f s to fail' % (what, elapsed))
        if elapsed > slowest_error[0]:
            slowest_error[:] = [elapsed, what]
        return e.value
    fail('%s succeeded; expected %s' % (what, ' or '.join(ckr(c) for c in codes)))


def timed(what, fn, *args):
    start = time.monotonic()
    try:
        out = fn(*args)
    except PyKCS11.PyKCS11Error as e:
        fail('%s: %s' % (what, e))
    elapsed = time.monotonic() - start
    check(elapsed < CALL_LIMIT_S, '%s took %.1f s' % (what, elapsed))
    return out


def open_and_login(lib, slot):
    """A session on `slot`, logged in, and the RSA-2048 key pair 01 (PIV
    slot 9A)."""
    s = timed('C_OpenSession', lib.openSession, slot, PyKCS11.CKF_SERIAL_SESSION)
    timed('C_Login', s.login, robust.PIN)
    priv = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                          (PyKCS11.CKA_ID, (1,))])
    pub = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                         (PyKCS11.CKA_ID, (1,))])
    check(len(priv) == 1 and len(pub) == 1, 'key 01: %d private, %d public '
          'objects' % (len(priv), len(pub)))
    return s, priv[0], pub[0]


def sign_verify(s, priv, pub, what):
    sig = timed('C_Sign (%s)' % what, s.sign, priv, DATA, MECH)
    check(len(sig) == 256, '%s: a %d-byte RSA-2048 signature' % (what, len(sig)))
    check(s.verify(pub, DATA, sig, MECH), '%s: the signature does not verify'
          % what)


def token_slots(lib):
    return timed('C_GetSlotList(CK_TRUE)', lib.getSlotList, True)


def close_quietly(s):
    try:
        s.logout()
        s.closeSession()
    except PyKCS11.PyKCS11Error:
        pass


# --------------------------------------------------------- 1. mid-signature

def removal_mid_signature(r, lib, slot, state, figures):
    # How many APDUs the module sends before and during C_Sign on a freshly
    # inserted card: the same every time, so the cut can be placed.
    card = r.start_card(0, 'piv', state=state)
    s, priv, pub = open_and_login(lib, slot)
    before = card.apdu_count()
    sign_verify(s, priv, pub, 'measuring')
    during = card.apdu_count() - before
    close_quietly(s)
    card.stop()
    check(during >= 3, 'an RSA-2048 signature took %d APDUs; expected a '
          'chained GENERAL AUTHENTICATE and a GET RESPONSE (3 or more)' % during)
    log('C_Sign with RSA-2048: APDUs %d..%d of a fresh card (%d in all)'
        % (before + 1, before + during, during))

    # Hang up after APDU before+k, for every k that leaves the signature
    # unfinished: the (k+1)th APDU of C_Sign finds no card (k = 0: the
    # card is gone when C_Sign starts).
    for k in range(0, during):
        cut = before + k
        card = r.start_card(0, 'piv', state=state, extra_args=['--drop-after', cut])
        s, priv, pub = open_and_login(lib, slot)
        if k > 0:
            served = card.apdu_count()
            check(served == before, 'the card served %d APDUs before C_Sign, '
                  'not %d as measured: the cut would miss the signature'
                  % (served, before))
        code = expect_error('C_SignInit + C_Sign with the card pulled after '
                            'APDU %d of %d' % (k, during),
                            (PyKCS11.CKR_DEVICE_REMOVED,),
                            s.sign, priv, DATA, MECH)
        rc, served = card.wait_exit()
        check(rc == 0 and served == cut, 'kyso-vcard --drop-after %d: status '
              '%s after %s APDUs' % (cut, rc, served))
        # The token and its sessions are gone (PKCS#11 2.40, 5.6: a
        # removed token closes its sessions).
        expect_error('C_GetSessionInfo after the removal',
                     (PyKCS11.CKR_SESSION_HANDLE_INVALID,), s.getSessionInfo)
        expect_error('C_Sign after the removal',
                     (PyKCS11.CKR_SESSION_HANDLE_INVALID,),
                     s.sign, priv, DATA, MECH)
        r.wait_card(0, present=False)
        check(token_slots(lib) == [], 'the pulled token is still listed')
        expect_error('C_OpenSession on the empty slot',
                     (PyKCS11.CKR_TOKEN_NOT_PRESENT,), lib.openSession, slot)

        # Put back: the same card, the same slot, no reload.
        card = r.start_card(0, 'piv', state=state)
        check(token_slots(lib) == [slot], 'after reinsertion: %s, expected '
              '[%s]' % (token_slots(lib), slot))
        s, priv, pub = open_and_login(lib, slot)
        sign_verify(s, priv, pub, 'after reinsertion')
        close_quietly(s)
        card.stop()
        log('pulled after APDU %d of C_Sign: %s; put back: signs and verifies'
            % (k, ckr(code)))
        figures.append('removal after APDU %d/%d of C_Sign: %s'
                       % (k, during, ckr(code)))
    return before


def pulled_before(r, lib, slot, state, before, figures):
    """The card gone (and pcscd knowing it) when an operation starts:
    C_VerifyInit and C_DecryptInit ask the driver for its mechanisms under
    a transaction, find no card and return CKR_DEVICE_REMOVED; the
    session went with the token (under ASan: no use of it after)."""
    rsa_oaep = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1)
    calls = (
        ('C_VerifyInit + C_Verify',
         lambda s, priv, pub: s.verify(pub, DATA, b'\0' * 256, MECH)),
        ('C_DecryptInit + C_Decrypt',
         lambda s, priv, pub: s.decrypt(priv, b'\0' * 256, rsa_oaep)),
        ('C_SignInit + C_Sign',
         lambda s, priv, pub: s.sign(priv, DATA, MECH)),
    )
    for what, call in calls:
        card = r.start_card(0, 'piv', state=state,
                            extra_args=['--drop-after', before])
        s, priv, pub = open_and_login(lib, slot)
        card.wait_exit()
        r.wait_card(0, present=False)
        code = expect_error('%s on a pulled card' % what,
                            (PyKCS11.CKR_DEVICE_REMOVED,), call, s, priv, pub)
        expect_error('C_GetSessionInfo after %s' % what,
                     (PyKCS11.CKR_SESSION_HANDLE_INVALID,), s.getSessionInfo)
        figures.append('card pulled before %s: %s' % (what, ckr(code)))
    card = r.start_card(0, 'piv', state=state)
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'after the pulls between calls')
    close_quietly(s)
    card.stop()
    log('pulled between calls: C_VerifyInit, C_DecryptInit, C_SignInit: '
        'CKR_DEVICE_REMOVED')


# ------------------------------------------------------- 2. pcscd killed

def pcscd_killed(r, lib, slot, state, figures):
    card = r.start_card(0, 'piv', state=state)
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'before pcscd dies')

    r.stop_pcscd(kill=True)
    codes = []
    codes.append(expect_error('C_Sign with pcscd killed',
                              (PyKCS11.CKR_DEVICE_REMOVED,),
                              s.sign, priv, DATA, MECH))
    codes.append(expect_error('C_GetSessionInfo with pcscd killed',
                              (PyKCS11.CKR_SESSION_HANDLE_INVALID,),
                              s.getSessionInfo))
    check(token_slots(lib) == [], 'a token is listed while pcscd is dead')
    check(timed('C_GetSlotList(CK_FALSE)', lib.getSlotList, False) == [],
          'readers are listed while pcscd is dead')
    codes.append(expect_error('C_GetTokenInfo with pcscd killed',
                              (PyKCS11.CKR_TOKEN_NOT_PRESENT,),
                              lib.getTokenInfo, slot))
    codes.append(expect_error('C_OpenSession with pcscd killed',
                              (PyKCS11.CKR_TOKEN_NOT_PRESENT,),
                              lib.openSession, slot))

    r.restart_pcscd()
    r.wait_card(0, present=True, timeout=10)
    check(token_slots(lib) == [slot], 'after pcscd came back: %s, expected '
          '[%s]' % (token_slots(lib), slot))
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'after pcscd came back')
    close_quietly(s)
    card.stop()
    log('pcscd killed: %s; restarted: the same slot logs in and signs'
        % ', '.join(ckr(c) for c in codes))
    figures.append('pcscd SIGKILL: C_Sign %s, C_GetSessionInfo %s, '
                   'C_GetTokenInfo %s, C_OpenSession %s; then works again'
                   % tuple(ckr(c) for c in codes))


# -------------------------------------- 3. C_WaitForSlotEvent across it

def wait_in_thread(m, results):
    rv, slot = m.wait_for_slot_event(0)
    results.put((rv, slot, time.monotonic()))


def next_event(m, results, what, slot, since):
    try:
        rv, got, at = results.get(timeout=CALL_LIMIT_S)
    except queue.Empty:
        fail('C_WaitForSlotEvent did not return within %s s of %s'
             % (CALL_LIMIT_S, what))
    check(rv == p11.CKR_OK and got == slot, 'C_WaitForSlotEvent after %s: %s, '
          'slot %s; expected CKR_OK, slot %s' % (what, p11.rv_name(rv), got, slot))
    return at - since


def wait_across_pcscd_restart(r, lib, slot, state, figures):
    m = p11.Module(robust.MODULE)     # the instance PyKCS11 initialized
    card = r.start_card(0, 'piv', state=state)
    check(token_slots(lib) == [slot], 'card not seen before the wait')
    while m.wait_for_slot_event(p11.CKF_DONT_BLOCK)[0] == p11.CKR_OK:
        pass                            # forget the insertion

    results = queue.Queue()
    t = threading.Thread(target=wait_in_thread, args=(m, results), daemon=True)
    t.start()
    time.sleep(0.5)
    check(results.empty(), 'C_WaitForSlotEvent returned with nothing '
          'happened: %s' % (results.queue,))
    killed = time.monotonic()
    r.stop_pcscd(kill=True)
    down = next_event(m, results, 'pcscd killed', slot, killed)
    t.join(CALL_LIMIT_S)
    info = timed('C_GetSlotInfo', lib.getSlotInfo, slot)
    check(not info.flags & PyKCS11.CKF_TOKEN_PRESENT,
          'the slot shows a token while pcscd is dead')

    # Blocked while there is no pcscd at all; back when it is.
    t = threading.Thread(target=wait_in_thread, args=(m, results), daemon=True)
    t.start()
    time.sleep(1.0)
    check(results.empty(), 'C_WaitForSlotEvent returned while pcscd was '
          'still dead: %s' % (results.queue,))
    started = time.monotonic()
    r.restart_pcscd()
    up = next_event(m, results, 'pcscd restarted', slot, started)
    t.join(CALL_LIMIT_S)
    r.wait_card(0, present=True, timeout=10)
    check(token_slots(lib) == [slot], 'no token after pcscd came back')
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'after the wait across the restart')
    close_quietly(s)
    card.stop()
    log('C_WaitForSlotEvent: pcscd killed -> slot %d after %.2f s; pcscd '
        'restarted -> slot %d after %.2f s' % (slot, down, slot, up))
    figures.append('C_WaitForSlotEvent across pcscd SIGKILL (%.2f s) and '
                   'restart (%.2f s)' % (down, up))


# ------------------------------------------------- 4. reader unplugged

def reader_unplugged(r, lib, state, figures):
    # vpcd readers come from pcscd's configuration: a restart without the
    # second entry is that reader unplugged.
    r.restart_pcscd(readers=4)
    card = r.start_card(2, 'piv', state=state)
    slots = token_slots(lib)
    name = r.reader_name(2)
    slot = [x for x in slots
            if lib.getSlotInfo(x).slotDescription.strip() == name]
    check(len(slot) == 1, 'no slot for %r among %s' % (name, slots))
    slot = slot[0]
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'in the plugged reader')

    r.restart_pcscd(readers=2)
    code = expect_error('C_Sign with the reader unplugged',
                        (PyKCS11.CKR_DEVICE_REMOVED,), s.sign, priv, DATA, MECH)
    check(slot not in timed('C_GetSlotList', lib.getSlotList, False),
          'the unplugged reader is still listed')
    expect_error('C_GetTokenInfo of the unplugged reader',
                 (PyKCS11.CKR_TOKEN_NOT_PRESENT,), lib.getTokenInfo, slot)

    r.restart_pcscd(readers=4)
    r.wait_card(2, present=True, timeout=10)
    check(slot in token_slots(lib), 'the reader came back, its slot %d '
          'did not: %s' % (slot, token_slots(lib)))
    s, priv, pub = open_and_login(lib, slot)
    sign_verify(s, priv, pub, 'reader plugged back')
    close_quietly(s)
    card.stop()
    log('reader unplugged: C_Sign %s; plugged back: slot %d signs' % (ckr(code), slot))
    figures.append('reader unplugged: C_Sign %s; plugged back, same slot '
                   'signs' % ckr(code))


def test():
    rig.require_module()
    # PyKCS11 keeps the GIL in its calls: a hang in one cannot be caught
    # from Python. The watchdog ends the process with a traceback.
    faulthandler.dump_traceback_later(150, exit=True)
    work = robust.workdir('removal')
    state = os.path.join(work, 'piv.state')
    figures = []
    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'piv', state=state, provision='demo')
        lib = PyKCS11.PyKCS11Lib()
        lib.load(robust.MODULE)
        slots = token_slots(lib)
        check(len(slots) == 1, 'slots with a token: %s' % slots)
        slot = slots[0]
        s, priv, pub = open_and_login(lib, slot)
        sign_verify(s, priv, pub, 'first')
        close_quietly(s)
        card.stop()
        check(token_slots(lib) == [], 'the removed card is still listed')

        before = removal_mid_signature(r, lib, slot, state, figures)
        pulled_before(r, lib, slot, state, before, figures)
        pcscd_killed(r, lib, slot, state, figures)
        wait_across_pcscd_restart(r, lib, slot, state, figures)
        reader_unplugged(r, lib, state, figures)
        lib.lib.C_Finalize()
    faulthandler.cancel_dump_traceback_later()
    log('removal scenarios: %d; the slowest failing call: %.3f s (%s)'
        % (len(figures), slowest_error[0], slowest_error[1]))
    for f in figures:
        log('  ' + f)


if __name__ == '__main__':
    rig.main(test)
