#!/usr/bin/python3
"""Issue 5: the token pulled out in the middle of a command.

kyso-vcard --drop-after N serves N APDUs and then leaves the reader, as a
token pulled out of the USB port. N is measured first: how many APDUs kyso
sends before the command's own write or signature. kyso must say the token
was removed (exit 5), in English and in Vietnamese, and the card must be
as it was: same PIN, same counters, same keys, no output file."""

import os

import tool_helpers as h
from tool_helpers import check, log, rig

NEW_PIN = '24681357'


def apdus(card, fn):
    """APDUs the card served while fn() ran."""
    before = card.apdu_count()
    fn()
    return card.apdu_count() - before


def pulled(r, card, state, n, env, args, input, what):
    """Run kyso with the card leaving after `n` more APDUs; returns the
    result once the card is back (same state, a new process)."""
    card.stop()
    card = r.start_card(0, 'piv', state=state, extra_args=['--drop-after', n])
    res = h.kyso(env, *args, input=input, expect='card', what=what)
    rc, _ = card.wait_exit()
    check(rc == 0, '%s: kyso-vcard exited %s' % (what, rc))
    r.wait_card(0, present=False)
    return r.start_card(0, 'piv', state=state), res


def test():
    h.require_tool()
    work = h.workdir('removal')
    with rig.Rig(readers=1) as r:
        card, state, ca = h.start_demo_card(r, work)
        env = h.english_env(r.env)
        vi = h.vietnamese_env(r.env)
        before = h.snapshot(env)
        data = h.write(os.path.join(work, 'doc.txt'), 'to sign\n')

        # pin change: the APDUs before CHANGE REFERENCE DATA are those of a
        # run that stops at a new PIN kyso refuses (too short).
        n = apdus(card, lambda: h.kyso(env, 'pin', 'change', '--pin-source', 'stdin',
                                       '--new-pin-source', 'stdin',
                                       input='%s\n12345\n' % h.PIN, expect='pin_policy'))
        log('pin change sends %d APDUs before changing the PIN' % n)
        for lang_env, text in ((env, 'was removed'), (vi, 'đã bị rút ra')):
            card, res = pulled(r, card, state, n, lang_env,
                               ('pin', 'change', '--pin-source', 'stdin',
                                '--new-pin-source', 'stdin'),
                               '%s\n%s\n' % (h.PIN, NEW_PIN), 'pin change, token pulled')
            check(text in res.stderr, 'pin change, token pulled: %r not in:\n%s'
                  % (text, res.describe()))
            after = h.snapshot(env)
            check(after == before, 'pulling the token during pin change changed the '
                  'card:\n%s\n%s' % (before, after))
            check(h.kyso_json(env, 'pin', 'status')['pin']['default'] is True,
                  'the PIN changed although the token was pulled out')

        # sign: pulled after the PIN was verified, before the signature
        # (the last two APDUs of a whole run are the signature and the
        # logout).
        sig = os.path.join(work, 'doc.p7s')
        pin_env = dict(env, P=h.PIN)
        total = apdus(card, lambda: h.kyso(pin_env, 'sign', data, '--out', sig,
                                           '--pin-source', 'env:P', expect='ok'))
        os.unlink(sig)
        card, res = pulled(r, card, state, total - 2, pin_env,
                           ('sign', data, '--out', sig, '--pin-source', 'env:P'), None,
                           'sign, token pulled')
        check('was removed' in res.stderr, res.describe())
        check(not os.path.exists(sig), 'sign wrote a signature although the token '
              'was pulled out')
        check(h.snapshot(env) == before, 'pulling the token during sign changed it')

        # cert import: pulled right before the write.
        pem = os.path.join(work, '9a.pem')
        h.kyso(env, 'cert', 'export', '--slot', '9a', '--out', pem, expect='ok')
        total = apdus(card, lambda: h.kyso(env, 'cert', 'import', pem, '--slot', '9a',
                                           expect='ok'))
        card, res = pulled(r, card, state, total - 1, env,
                           ('cert', 'import', pem, '--slot', '9a'), None,
                           'cert import, token pulled')
        check(h.snapshot(env) == before, 'pulling the token during cert import changed it')
        log('token pulled mid-command: exit 5, card unchanged')


if __name__ == '__main__':
    rig.main(test)
