#!/usr/bin/python3
"""Another program resets the card, then the card is pulled and put back:
kyso reconnects after the reset (the login is gone, as on the card), the
pulled token's sessions are closed with the right codes, and the card works
again after reinsertion, all without reloading the module."""

import os
import tempfile

import PyKCS11

import rig

PIN = '123456'

def expect_error(what, codes, fn, *args):
    try:
        fn(*args)
    except PyKCS11.PyKCS11Error as e:
        rig.check(e.value in codes, '%s: got %s, expected one of %s'
                  % (what, e, [PyKCS11.CKR[c] for c in codes]))
        return e.value
    rig.fail('%s succeeded; expected one of %s' % (what, [PyKCS11.CKR[c] for c in codes]))


def sign_and_verify(session, data=b'kyso reset test'):
    mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
    priv = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                (PyKCS11.CKA_ID, (1,))])
    pub = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                               (PyKCS11.CKA_ID, (1,))])
    rig.check(len(priv) == 1 and len(pub) == 1, 'key 01: %d private, %d public'
              % (len(priv), len(pub)))
    sig = session.sign(priv[0], data, mech)
    rig.check(session.verify(pub[0], data, sig, mech), 'C_Verify rejected the signature')
    return priv[0]


def test():
    rig.require_module()
    work = tempfile.mkdtemp(prefix='kyso-reset-')
    state = os.path.join(work, 'piv.state')
    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'piv', state=state, provision='demo')
        lib = PyKCS11.PyKCS11Lib()
        lib.load(rig.MODULE)
        slots = lib.getSlotList(tokenPresent=True)
        rig.check(len(slots) == 1, 'slots with a token: %s' % slots)
        slot = slots[0]
        session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        session.login(PIN)
        key = sign_and_verify(session)

        # Reset by someone else: the card forgot the PIN, and so does kyso.
        rig.Pcsc().reset(r.reader_name(0))
        code = expect_error('signing after the card was reset',
                            (PyKCS11.CKR_USER_NOT_LOGGED_IN,),
                            session.sign, key, b'x',
                            PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))
        rig.log('after a reset: %s' % PyKCS11.CKR[code])
        state_now = session.getSessionInfo().state
        rig.check(state_now == PyKCS11.CKS_RW_PUBLIC_SESSION,
                  'session state after the reset: %s, expected CKS_RW_PUBLIC_SESSION'
                  % state_now)
        session.login(PIN)
        sign_and_verify(session)
        rig.log('after a new login: signs and verifies')

        # Pulled: the token and its sessions go away.
        card.stop()
        expect_error('a session of a pulled token',
                     (PyKCS11.CKR_SESSION_HANDLE_INVALID, PyKCS11.CKR_DEVICE_REMOVED,
                      PyKCS11.CKR_TOKEN_NOT_PRESENT),
                     session.getSessionInfo)
        expect_error('C_GetTokenInfo of the empty slot', (PyKCS11.CKR_TOKEN_NOT_PRESENT,),
                     lib.getTokenInfo, slot)
        expect_error('C_OpenSession on the empty slot', (PyKCS11.CKR_TOKEN_NOT_PRESENT,),
                     lib.openSession, slot)
        rig.check(lib.getSlotList(tokenPresent=True) == [], 'a pulled token is still listed')

        # Back in: the same slot, a working token, no reload.
        r.start_card(0, 'piv', state=state)
        rig.check(lib.getSlotList(tokenPresent=True) == [slot],
                  'after reinsertion: %s' % lib.getSlotList(tokenPresent=True))
        session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
        session.login(PIN)
        sign_and_verify(session)
        rig.log('after reinsertion: signs and verifies')
        session.logout()
        session.closeSession()
        lib.lib.C_Finalize()


if __name__ == '__main__':
    rig.main(test)
