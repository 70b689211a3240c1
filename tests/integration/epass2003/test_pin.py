#!/usr/bin/python3
"""Issue 4, acceptance: PINs on the ePass2003 (vendor layout). A wrong PIN
is CKR_PIN_INCORRECT and costs one try, which the token flags show
(asked without spending a try); the PIN is never sent again by kyso; the
last try blocks it (CKR_PIN_LOCKED); the SO PIN unblocks it (C_Login as SO,
C_InitPIN); C_SetPIN changes it and the old one stops working."""

import os

import ep_helpers as h
from ep_helpers import call, check, expect_rv, log, rig


def tries_left(env, reader):
    """The user PIN tries left as `kyso list --json` reports them (the
    driver's pin_status), from a process of its own."""
    import json
    kyso = os.path.join(rig.BUILD_DIR, 'tools', 'kyso')
    res = rig.run([kyso, 'list', '--json'], env=env, timeout=60)
    check(res.returncode == 0, 'kyso list --json:\n%s' % res.describe())
    doc = json.loads(res.stdout)
    found = []

    def walk(x):
        if isinstance(x, dict):
            if 'tries_left' in x:
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    check(found, 'kyso list --json shows no PIN counter:\n%s' % res.stdout)
    return found[0]['tries_left']


def test():
    work = h.workdir('ep-pin')
    P = h.pykcs11()
    with rig.Rig(readers=2) as r:
        card, _, _ = h.start_token(r, work, 'vendor')
        env = r.env
        reader = card.reader

        flags = h.token_flags(env, reader)
        check('user PIN count low' not in flags, 'fresh token flags: %s' % flags)
        check(tries_left(env, reader) == 10, 'a fresh token has 10 tries')

        lib = h.load_module()
        slot = h.slot_of(lib, reader)
        s = call(lambda: lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION),
                 'C_OpenSession')
        before = card.apdu_count()
        expect_rv(lambda: s.login('00000000'), 'CKR_PIN_INCORRECT', 'C_Login, wrong PIN')
        check(card.apdu_count() - before <= 6, 'a wrong PIN cost %d APDUs: '
              'was it sent twice?' % (card.apdu_count() - before))
        # The vendor layout does not tell the counter's maximum: the
        # process that saw the wrong PIN flags the count as low, and the
        # counter itself (asked without a try) went down by one.
        flags = lib.getTokenInfo(slot).flags
        check(flags & P.CKF_USER_PIN_COUNT_LOW, 'after one wrong PIN: flags 0x%x' % flags)
        left = tries_left(env, reader)
        check(left == 9, 'tries left after one wrong PIN: %s (10 before)' % left)
        log('wrong PIN: CKR_PIN_INCORRECT, CKF_USER_PIN_COUNT_LOW, %d tries left' % left)

        # Down to the last try, then blocked.
        got = None
        for i in range(20):
            got = expect_rv(lambda: s.login('00000000'),
                            ('CKR_PIN_INCORRECT', 'CKR_PIN_LOCKED'), 'wrong PIN %d' % i)
            if got == 'CKR_PIN_LOCKED':
                break
        check(got == 'CKR_PIN_LOCKED', 'the PIN never blocked')
        expect_rv(lambda: s.login(h.PIN), 'CKR_PIN_LOCKED', 'the right PIN, blocked')
        flags = h.token_flags(env, reader)
        check('user PIN locked' in flags, 'blocked PIN, token flags: %s' % flags)
        log('blocked: CKR_PIN_LOCKED, token flags: %s' % sorted(flags))

        # The SO PIN unblocks: login as SO, C_InitPIN.
        call(lambda: s.login(h.SO_PIN, user_type=P.CKU_SO), 'C_Login as SO')
        call(lambda: s.initPin('11223344'), 'C_InitPIN')
        call(lambda: s.logout(), 'C_Logout (SO)')
        call(lambda: s.login('11223344'), 'C_Login with the new PIN')
        log('the SO PIN unblocked the user PIN')

        # C_SetPIN back to the original.
        call(lambda: s.setPin('11223344', h.PIN), 'C_SetPIN')
        call(lambda: s.logout(), 'C_Logout')
        expect_rv(lambda: s.login('11223344'), 'CKR_PIN_INCORRECT', 'the old PIN')
        call(lambda: s.login(h.PIN), 'C_Login with the changed PIN')
        keys = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
        check(len(keys) == 2, '%d private keys after login' % len(keys))
        key = keys[0]
        sig = call(lambda: s.sign(key, b'abc', P.Mechanism(P.CKM_SHA256_RSA_PKCS)), 'C_Sign')
        check(len(sig) == 256, 'signature of %d bytes' % len(sig))
        flags = h.token_flags(env, reader)
        check(not flags & {'user PIN count low', 'user PIN locked', 'user PIN final try'},
              'after a good login the counter is full again: %s' % flags)
        log('C_SetPIN: the old PIN fails, the new one signs')
        s.closeSession()


if __name__ == '__main__':
    rig.main(test)
