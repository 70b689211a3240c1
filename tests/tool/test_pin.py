#!/usr/bin/python3
"""Issue 5: the PIN life cycle with kyso on the demo card (PIN 123456,
PUK 12345678, 3 tries each).

- kyso pin change at a real terminal (a pty, not a pipe): the tries left
  are shown before the prompt, nothing typed is echoed, the new PIN is
  asked twice; then the new PIN works and the old one does not.
- A wrong PIN: exit 3, "Wrong PIN. 2 tries left", and the counter went
  down by exactly one; the card's keys and certificates are unchanged.
- PINs the token cannot take are not sent (no try used): too short, with
  Vietnamese letters (an input method left on), the factory default as a
  new PIN, two different new PINs at the terminal. Caps Lock is pointed out
  and asked about at the terminal.
- The last try is refused without --yes-last-try (exit 4); then a wrong
  PIN blocks (exit 4), and a blocked PIN is refused without being sent.
- kyso pin unblock with a wrong PUK (exit 3, PUK counter -1), then the
  right one; kyso puk change."""

import os

import tool_helpers as h
from tool_helpers import check, log, rig

NEW_PIN = '24681357'
NEW_PUK = '87654321'


def expect_message(res, text, what):
    check(text in res.stderr, '%s: %r not in the message:\n%s'
          % (what, text, res.describe()))


def test():
    h.require_tool()
    work = h.workdir('pin')
    with rig.Rig(readers=1) as r:
        card, state, ca = h.start_demo_card(r, work)
        env = h.english_env(r.env)
        before = h.snapshot(env)

        # ---- pin change on a pseudo-terminal.
        t = h.Pty(env, 'pin', 'change')
        t.expect('PIN: 3 tries left (of 3).')
        t.expect('PIN for YubiKey PIV #')
        t.send(h.PIN + '\n')
        t.expect('New PIN: ')
        t.send(NEW_PIN + '\n')
        t.expect('New PIN again: ')
        t.send(NEW_PIN + '\n')
        t.expect('The PIN was changed.')
        rc = t.finish()
        check(rc == 0, 'pin change on a terminal exited %d:\n%s' % (rc, t.text()))
        for typed in (h.PIN, NEW_PIN):
            check(typed not in t.text(), 'the terminal echoed %r:\n%s'
                  % (typed, t.text()))
        log('pin change on a pty: ok, nothing echoed')

        # The new PIN works (sign), the old one is wrong.
        doc_path = h.write(os.path.join(work, 'doc.txt'), 'a document\n')
        h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', input=NEW_PIN + '\n',
               expect='ok', what='sign with the new PIN')
        res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', input=h.PIN + '\n',
                     expect='wrong_pin', what='sign with the old PIN')
        expect_message(res, 'Wrong PIN. 2 tries left', 'old PIN')
        check(h.pin_tries(env) == (2, 3), 'after one wrong PIN the counters are %s'
              % (h.pin_tries(env),))
        env_p = dict(env, P='00000000')
        doc = h.kyso_json(env_p, 'sign', doc_path, '--pin-source', 'env:P',
                          expect='wrong_pin')
        check(doc['error']['code'] == 'wrong_pin' and doc['pin_tries_left'] == 1,
              'wrong PIN, JSON: %s' % doc)
        after = h.snapshot(env)
        check(after['keys'] == before['keys'], 'a wrong PIN changed the card:\n%s\n%s'
              % (before, after))
        check(after['pin'] == 1 and after['puk'] == 3, 'counters %s' % after)

        # ---- The last try: refused unless asked for.
        res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin',
                     input=NEW_PIN + '\n', expect='blocked', what='last try')
        expect_message(res, 'last PIN try', 'last try')
        expect_message(res, '--yes-last-try', 'last try')
        check(h.pin_tries(env)[0] == 1, 'the refused last try was used')

        # ---- PINs that are not sent: no try used.
        cases = [
            ('12345', 'has 6 to 8 characters', 'too short'),
            ('123456789', 'has 6 to 8 characters', 'too long'),
            ('2468135\u01b0', 'Vietnamese input method', 'Vietnamese letter'),
            ('', 'empty', 'empty'),
        ]
        for pin, msg, what in cases:
            res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', '--yes-last-try',
                         input=pin + '\n', expect='pin_policy', what=what)
            expect_message(res, msg, what)
            expect_message(res, 'no try was used', what)
        check(h.pin_tries(env)[0] == 1, 'a PIN that was not to be sent used a try')

        # The right PIN on the last try, when allowed: full counter again.
        h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', '--yes-last-try',
               input=NEW_PIN + '\n', expect='ok', what='right PIN on the last try')
        check(h.pin_tries(env) == (3, 3), 'counter not full after the right PIN')

        # ---- New PINs the tool refuses (nothing sent).
        res = h.kyso(env, 'pin', 'change', '--pin-source', 'stdin', '--new-pin-source',
                     'stdin', input='%s\n%s\n' % (NEW_PIN, h.PIN), expect='pin_policy')
        expect_message(res, 'factory default', 'default as new PIN')
        res = h.kyso(env, 'pin', 'change', '--pin-source', 'stdin', '--new-pin-source',
                     'stdin', input='%s\n%s\n' % (NEW_PIN, 'm\u1eadtkh\u1ea9u'),
                     expect='pin_policy')
        expect_message(res, 'input method', 'Vietnamese new PIN')
        check(h.pin_tries(env) == (3, 3), 'a refused new PIN used a try')

        # Two different new PINs at the terminal; Caps Lock asked about.
        t = h.Pty(env, 'pin', 'change')
        t.expect('PIN for ')
        t.send(NEW_PIN + '\n')
        t.expect('New PIN: ')
        t.send('ABCDEF12\n')
        t.expect('Caps Lock')
        t.expect('[y/N]')
        t.send('y\n')
        t.expect('New PIN again: ')
        t.send('ABCDEF13\n')
        t.expect('differ')
        rc = t.finish()
        check(rc == h.EXIT['pin_policy'], 'different new PINs: exit %d\n%s'
              % (rc, t.text()))
        check(h.pin_tries(env) == (3, 3), 'counter changed')

        # ---- Block the PIN, then unblock it with the PUK.
        for left in (2, 1):
            res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin',
                         input='000000\n', expect='wrong_pin', what='wrong PIN')
            expect_message(res, 'Wrong PIN. %d tr' % left, 'wrong PIN')
        res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', '--yes-last-try',
                     input='000000\n', expect='blocked', what='last wrong PIN')
        expect_message(res, 'the PIN is now blocked', 'blocking')
        expect_message(res, 'kyso pin unblock', 'blocking')
        res = h.kyso(env, 'sign', doc_path, '--pin-source', 'stdin', '--yes-last-try',
                     input=NEW_PIN + '\n', expect='blocked', what='blocked PIN')
        expect_message(res, 'is blocked', 'blocked PIN')
        doc = h.kyso_json(env, 'pin', 'status')
        check(doc['pin']['blocked'] and doc['pin']['tries_left'] == 0, doc)
        check(h.snapshot(env)['keys'] == before['keys'], 'blocking changed the keys')

        res = h.kyso(env, 'pin', 'unblock', '--puk-source', 'stdin', '--new-pin-source',
                     'stdin', input='00000000\n65432199\n', expect='wrong_pin',
                     what='wrong PUK')
        expect_message(res, 'Wrong PUK. 2 tries left', 'wrong PUK')
        check(h.pin_tries(env) == (0, 2), 'wrong PUK: counters %s' % (h.pin_tries(env),))

        t = h.Pty(env, 'pin', 'unblock')
        t.expect('PUK: 2 tries left (of 3).')
        t.expect('PUK for ')
        t.send(h.PUK + '\n')
        t.expect('New PIN: ')
        t.send('11223344\n')
        t.expect('New PIN again: ')
        t.send('11223344\n')
        t.expect('unblocked')
        check(t.finish() == 0, 'unblock on a terminal:\n' + t.text())
        check(h.PUK not in t.text() and '11223344' not in t.text(), 'echo:\n' + t.text())
        check(h.pin_tries(env) == (3, 3), 'after unblocking: %s' % (h.pin_tries(env),))
        h.kyso(env, 'sign', doc_path, '--pin', '11223344', expect='ok',
               what='sign with the PIN set by unblock')

        # ---- PUK change.
        h.kyso(env, 'puk', 'change', '--puk-source', 'stdin', '--new-pin-source', 'stdin',
               input='%s\n%s\n' % (h.PUK, NEW_PUK), expect='ok', what='puk change')
        res = h.kyso(env, 'puk', 'change', '--puk-source', 'stdin', '--new-pin-source',
                     'stdin', input='%s\n%s\n' % (h.PUK, '11112222'), expect='wrong_pin',
                     what='puk change with the old PUK')
        expect_message(res, 'Wrong PUK', 'old PUK')
        doc = h.kyso_json(env, 'pin', 'status')
        check(doc['puk']['default'] is False and doc['puk']['tries_left'] == 2, doc)
        check(h.snapshot(env)['keys'] == before['keys'], 'PIN commands changed the keys')


if __name__ == '__main__':
    rig.main(test)
