#!/usr/bin/python3
"""A card no driver knows: no token, at most 5 APDUs, no delay.

(OpenSC 0.23 sends 282 APDUs probing the same card: see test_card_basics.)"""

import rig

MAX_APDUS = 5
LIMIT_S = 0.5


def test():
    rig.require_module()
    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'unknown')
        before = card.apdu_count()
        rig.check(before == 0, 'the card served %d APDUs before any client '
                  'ran' % before)

        res = rig.pkcs11_tool(rig.MODULE, '-L', env=r.env, timeout=10)
        used = card.apdu_count() - before
        rig.check(res.returncode == 0, 'pkcs11-tool -L failed:\n'
                  + res.describe())
        slots = {s['description']: s for s in rig.parse_slots(res.stdout)}
        rig.check(len(slots) == 2, 'expected 2 slots, got:\n' + res.stdout)
        slot = slots.get(card.reader)
        rig.check(slot is not None, 'no slot for reader %r:\n%s'
                  % (card.reader, res.stdout))
        rig.check(slot['token'] is None, 'the unknown card shows as a token:'
                  '\n' + res.stdout)
        rig.log('-L: %d APDUs, %.3f s, slot: %s' % (
            used, res.elapsed,
            'empty' if slot['empty'] else 'token not recognized'))
        rig.check(used <= MAX_APDUS, 'recognising the unknown card cost %d '
                  'APDUs (at most %d allowed)' % (used, MAX_APDUS))
        rig.check(res.elapsed < LIMIT_S, 'pkcs11-tool -L took %.3f s with an '
                  'unknown card (limit %.1f s)' % (res.elapsed, LIMIT_S))

        # -T lists only slots with a token: none here.
        before = card.apdu_count()
        res = rig.pkcs11_tool(rig.MODULE, '-T', env=r.env, timeout=10)
        used = card.apdu_count() - before
        rig.check(rig.tool_ok(res), 'pkcs11-tool -T failed:\n'
                  + res.describe())
        rig.check(rig.parse_slots(res.stdout) == [], 'pkcs11-tool -T listed '
                  'the unknown card as a token:\n' + res.stdout)
        rig.check(used <= MAX_APDUS, 'pkcs11-tool -T cost %d APDUs on the '
                  'unknown card (at most %d allowed)' % (used, MAX_APDUS))
        rig.log('-T: no token, %d APDUs, %.3f s' % (used, res.elapsed))


rig.main(test)
