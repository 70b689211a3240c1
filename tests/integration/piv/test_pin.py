#!/usr/bin/python3
"""Issue 3, acceptance: the PIN life cycle on the demo card (PIN 123456,
PUK 12345678, 3 tries each).

- A wrong PIN is CKR_PIN_INCORRECT, and CK_TOKEN_INFO tells the retry
  state: CKF_USER_PIN_COUNT_LOW after the first wrong try,
  CKF_USER_PIN_FINAL_TRY with one left; the last wrong try is
  CKR_PIN_LOCKED with CKF_USER_PIN_LOCKED, and then even the right PIN is
  refused. The flags are checked both in the test's process (PyKCS11) and
  in a fresh one (pkcs11-tool -T), which can only know them from the card.
- The SO is the PUK holder (docs/piv.md): C_Login(CKU_SO, PUK) then
  C_InitPIN(new PIN) unblocks; with a wrong PUK C_InitPIN is
  CKR_PIN_INCORRECT and CKF_SO_PIN_COUNT_LOW tells it (docs/piv.md).
  C_SetPIN as SO changes the PUK.
- C_SetPIN changes the PIN; after the card is pulled out and put back
  (kyso-vcard restarted on the same state), the new PIN works, the old one
  does not, and the retry counter survived."""

import piv_helpers as h
from piv_helpers import check, log, rig

P = h.pykcs11()

PIN_FLAGS = ('CKF_USER_PIN_COUNT_LOW', 'CKF_USER_PIN_FINAL_TRY',
             'CKF_USER_PIN_LOCKED')
# How pkcs11-tool -T prints them.
TOOL_WORDS = {'CKF_USER_PIN_COUNT_LOW': 'user PIN count low',
              'CKF_USER_PIN_FINAL_TRY': 'final user PIN try',
              'CKF_USER_PIN_LOCKED': 'user PIN locked'}

WRONG = '000000'
NEW_PIN = '24681357'
NEWER_PIN = '97531'  # too short for PIV (6 to 8): refused
NEW_PUK = '87654321'


class Token:
    def __init__(self, r):
        self.r = r
        self.lib = h.load_module()
        self.reopen()

    def reopen(self):
        self.slot = h.slot_of(self.lib, self.r.reader_name(0))
        self.s = h.call(lambda: self.lib.openSession(
            self.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION),
            'C_OpenSession')

    def close(self):
        h.call(lambda: self.lib.closeAllSessions(self.slot),
               'C_CloseAllSessions')

    def expect_flags(self, want, when):
        """The PIN flags are exactly `want`, in this process and in a new
        one."""
        info = h.call(lambda: self.lib.getTokenInfo(self.slot),
                      'C_GetTokenInfo (%s)' % when)
        got = {f for f in PIN_FLAGS if info.flags & getattr(P, f)}
        check(got == set(want), '%s: C_GetTokenInfo flags have %s, expected '
              '%s (all flags: %s)' % (when, sorted(got) or 'none',
                                     sorted(want) or 'none',
                                     info.flags2text()))
        words = h.token_flags(self.r.env, self.r.reader_name(0))
        got = {f for f, w in TOOL_WORDS.items() if w in words}
        check(got == set(want), '%s: pkcs11-tool -T (a fresh process) shows '
              '%s, expected %s (token flags: %s)'
              % (when, sorted(got) or 'none', sorted(want) or 'none',
                 ', '.join(sorted(words))))

    def login(self, pin, user=P.CKU_USER):
        self.s.login(pin, user)


def test():
    work = h.workdir('pin')
    with rig.Rig(readers=2) as r:
        card, state, _ = h.start_demo_card(r, work)
        t = Token(r)
        t.expect_flags([], 'a new card')

        # Counting down.
        h.expect_rv(lambda: t.login(WRONG), 'CKR_PIN_INCORRECT',
                    'C_Login with a wrong PIN (1st)')
        t.expect_flags(['CKF_USER_PIN_COUNT_LOW'], 'after one wrong PIN of 3')
        h.expect_rv(lambda: t.login(WRONG), 'CKR_PIN_INCORRECT',
                    'C_Login with a wrong PIN (2nd)')
        got = h.call(lambda: t.lib.getTokenInfo(t.slot), 'C_GetTokenInfo')
        check(got.flags & P.CKF_USER_PIN_FINAL_TRY,
              'after two wrong PINs of 3: no CKF_USER_PIN_FINAL_TRY (%s)'
              % got.flags2text())
        # COUNT_LOW may accompany FINAL_TRY (PKCS#11 leaves it open).
        words = h.token_flags(r.env, r.reader_name(0))
        check(TOOL_WORDS['CKF_USER_PIN_FINAL_TRY'] in words and
              TOOL_WORDS['CKF_USER_PIN_LOCKED'] not in words,
              'after two wrong PINs of 3, pkcs11-tool -T shows %s'
              % sorted(words))
        log('wrong PIN: CKR_PIN_INCORRECT, COUNT_LOW, then FINAL_TRY')
        h.expect_rv(lambda: t.login(WRONG), 'CKR_PIN_LOCKED',
                    'C_Login with the last wrong PIN')
        t.expect_flags(['CKF_USER_PIN_LOCKED'], 'after three wrong PINs')
        h.expect_rv(lambda: t.login(h.PIN), 'CKR_PIN_LOCKED',
                    'C_Login with the right PIN on a blocked card')
        log('last wrong PIN: CKR_PIN_LOCKED, CKF_USER_PIN_LOCKED; the right '
            'PIN is refused')

        # Unblocking: the SO holds the PUK. PIV checks the PUK only with
        # RESET RETRY COUNTER, so a wrong one is refused at C_Login or at
        # C_InitPIN, as CKR_PIN_INCORRECT.
        try:
            t.login('87650000', P.CKU_SO)
            h.expect_rv(lambda: t.s.initPin(NEW_PIN), 'CKR_PIN_INCORRECT',
                        'C_InitPIN after C_Login(CKU_SO) with a wrong PUK')
        except P.PyKCS11Error as e:
            check(e.value == P.CKR_PIN_INCORRECT, 'C_Login(CKU_SO) with a '
                  'wrong PUK: %s' % e)
        _logout(t)
        t.expect_flags(['CKF_USER_PIN_LOCKED'], 'after a wrong PUK')
        # docs/piv.md: the SO flags tell the PUK counter once kyso knows it.
        info = t.lib.getTokenInfo(t.slot)
        check(info.flags & P.CKF_SO_PIN_COUNT_LOW and not info.flags &
              (P.CKF_SO_PIN_LOCKED | P.CKF_SO_PIN_FINAL_TRY),
              'after one wrong PUK of 3: token flags %s, expected '
              'CKF_SO_PIN_COUNT_LOW' % info.flags2text())
        h.call(lambda: t.login(h.PUK, P.CKU_SO), 'C_Login(CKU_SO, PUK)')
        h.expect_rv(lambda: t.s.initPin(NEWER_PIN),
                    ('CKR_PIN_LEN_RANGE', 'CKR_PIN_INVALID'),
                    'C_InitPIN with a 5-digit PIN')
        # The PUK may have been used up by that refusal: log in again.
        _logout(t)
        h.call(lambda: t.login(h.PUK, P.CKU_SO), 'C_Login(CKU_SO, PUK)')
        h.call(lambda: t.s.initPin(NEW_PIN), 'C_InitPIN after C_Login(CKU_SO, '
               'PUK)')
        _logout(t)
        t.expect_flags([], 'after C_InitPIN')
        info = t.lib.getTokenInfo(t.slot)
        check(not info.flags & (P.CKF_SO_PIN_COUNT_LOW | P.CKF_SO_PIN_LOCKED |
                                P.CKF_SO_PIN_FINAL_TRY),
              'after C_InitPIN with the right PUK: token flags %s still tell '
              'a used PUK try' % info.flags2text())
        h.expect_rv(lambda: t.login(h.PIN), 'CKR_PIN_INCORRECT',
                    'C_Login with the PIN from before the unblock')
        h.call(lambda: t.login(NEW_PIN), 'C_Login with the PIN set by C_InitPIN')
        t.expect_flags([], 'after a good PIN')
        log('C_Login(CKU_SO, PUK) + C_InitPIN unblocked the PIN (a wrong PUK '
            'is CKR_PIN_INCORRECT)')

        # C_SetPIN as the user: a wrong old PIN is refused and counts.
        h.expect_rv(lambda: t.s.setPin(WRONG, h.PIN), 'CKR_PIN_INCORRECT',
                    'C_SetPIN with a wrong old PIN')
        h.expect_rv(lambda: t.s.setPin(NEW_PIN, NEWER_PIN),
                    ('CKR_PIN_LEN_RANGE', 'CKR_PIN_INVALID'),
                    'C_SetPIN to a 5-digit PIN')
        h.call(lambda: t.s.setPin(NEW_PIN, h.PIN[::-1]), 'C_SetPIN(%s -> %s)'
               % (NEW_PIN, h.PIN[::-1]))
        final_pin = h.PIN[::-1]
        _logout(t)
        # One wrong try, to see the counter survive the restart.
        h.expect_rv(lambda: t.login(WRONG), 'CKR_PIN_INCORRECT',
                    'C_Login with a wrong PIN before the restart')
        log('C_SetPIN changed the PIN to %s' % final_pin)

        # C_SetPIN as SO changes the PUK.
        h.call(lambda: t.login(h.PUK, P.CKU_SO), 'C_Login(CKU_SO, PUK)')
        h.call(lambda: t.s.setPin(h.PUK, NEW_PUK), 'C_SetPIN as SO (PUK '
               '%s -> %s)' % (h.PUK, NEW_PUK))
        _logout(t)
        t.close()

        # Pull the card out, put it back.
        card = h.restart_card(r, card, state)
        t.reopen()
        t.expect_flags(['CKF_USER_PIN_COUNT_LOW'], 'after the restart (one '
                       'wrong try was left on the counter)')
        res = h.tool(r.env, '--login', '--pin', final_pin, '-O',
                     what='pkcs11-tool --login with the new PIN after the '
                     'card restarted')
        counts = h.count_kinds(h.parse_objects(res.stdout))
        check(counts.get('privkey') == 4, 'after the restart, login with the '
              'new PIN shows %s objects, expected 4 private keys' % counts)
        words = h.token_flags(r.env, r.reader_name(0))
        check(not any(w in words for w in TOOL_WORDS.values()),
              'after a good PIN in pkcs11-tool, pkcs11-tool -T still shows '
              '%s' % sorted(words))
        # (This process is not told about the other one's login: kyso
        # tracks the counter from its own VERIFYs between resets.)
        h.call(lambda: t.login(final_pin), 'C_Login with the new PIN after '
               'the restart')
        t.expect_flags([], 'after a good PIN')
        _logout(t)
        res = h.tool(r.env, '--login', '--pin', h.PIN, '-O', ok=False)
        check(res.returncode != 0 and 'CKR_PIN_INCORRECT' in res.stderr +
              res.stdout, 'the old PIN after C_SetPIN and a restart: '
              'expected CKR_PIN_INCORRECT:\n' + res.describe())
        log('after the card restarted: the new PIN works, the old one is '
            'CKR_PIN_INCORRECT, the retry counter survived')

        # The new PUK unblocks (RESET RETRY COUNTER works on a PIN that is
        # not blocked, too); the old PUK no longer does.
        h.call(lambda: t.login(h.PUK, P.CKU_SO), 'C_Login(CKU_SO, old PUK)')
        h.expect_rv(lambda: t.s.initPin(h.PIN), 'CKR_PIN_INCORRECT',
                    'C_InitPIN with the PUK from before C_SetPIN as SO')
        _logout(t)
        h.call(lambda: t.login(NEW_PUK, P.CKU_SO), 'C_Login(CKU_SO, new PUK)')
        h.call(lambda: t.s.initPin(h.PIN), 'C_InitPIN with the new PUK')
        _logout(t)
        h.call(lambda: t.login(h.PIN), 'C_Login with the PIN the new PUK set')
        _logout(t)
        log('C_SetPIN as SO changed the PUK: the new PUK unblocks, the old '
            'one is CKR_PIN_INCORRECT')
        t.close()


def _logout(t):
    """C_Logout; a PIV SO who never reached the card may be logged out
    already."""
    try:
        t.s.logout()
    except P.PyKCS11Error as e:
        check(e.value == P.CKR_USER_NOT_LOGGED_IN, 'C_Logout: %s' % e)


rig.main(test)
