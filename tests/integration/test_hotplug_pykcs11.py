#!/usr/bin/python3
"""Card hot-plug through PyKCS11, the way Python applications see kyso.

PyKCS11 (1.5.12) keeps the GIL during C_WaitForSlotEvent, so nothing else
in this process runs while it blocks: card insertion and removal are
scheduled in other processes before the blocking call."""

import faulthandler
import time

import PyKCS11

import rig

DELAY_S = 1.0
EVENT_LIMIT_S = 5.0


def no_event(lib, what):
    try:
        slot = lib.waitForSlotEvent(PyKCS11.CKF_DONT_BLOCK)
    except PyKCS11.PyKCS11Error as e:
        rig.check(e.value == PyKCS11.CKR_NO_EVENT, 'waitForSlotEvent('
                  'CKF_DONT_BLOCK) %s raised %s, expected CKR_NO_EVENT'
                  % (what, e))
        return
    rig.fail('waitForSlotEvent(CKF_DONT_BLOCK) %s reported slot %s, expected '
             'CKR_NO_EVENT' % (what, slot))


def blocking_event(lib, what):
    start = time.monotonic()
    try:
        slot = lib.waitForSlotEvent()
    except PyKCS11.PyKCS11Error as e:
        rig.fail('waitForSlotEvent() for %s raised %s' % (what, e))
    elapsed = time.monotonic() - start
    rig.check(elapsed >= DELAY_S * 0.8, 'waitForSlotEvent() returned slot %s '
              'after %.3f s, before %s happened' % (slot, elapsed, what))
    rig.check(elapsed < DELAY_S + EVENT_LIMIT_S, 'waitForSlotEvent() took '
              '%.3f s to report %s' % (elapsed, what))
    return slot, elapsed


def test():
    rig.require_module()
    # The blocking call cannot be interrupted from Python: end a hang
    # from the C watchdog thread.
    faulthandler.dump_traceback_later(60, exit=True)
    with rig.Rig(readers=2) as r:
        lib = PyKCS11.PyKCS11Lib()
        lib.load(rig.MODULE)
        slots = lib.getSlotList(tokenPresent=False)
        rig.check(len(slots) == 2, 'getSlotList: %s, expected 2 slots' % slots)
        by_reader = {lib.getSlotInfo(s).slotDescription.strip(): s
                     for s in slots}
        slot1 = by_reader.get(r.reader_name(1))
        rig.check(slot1 is not None, 'no slot named %r among %s'
                  % (r.reader_name(1), list(by_reader)))
        no_event(lib, 'with nothing happened')

        card = r.start_card(1, 'unknown', delay=DELAY_S)
        slot, elapsed = blocking_event(lib, 'the insertion')
        rig.check(slot == slot1, 'insertion in %r reported slot %s, expected '
                  '%s' % (r.reader_name(1), slot, slot1))
        rig.log('insertion: slot %d after %.3f s' % (slot, elapsed))
        r.wait_card(1, present=True)
        time.sleep(0.3)
        no_event(lib, 'after the insertion event')

        card.stop_later(DELAY_S)
        slot, elapsed = blocking_event(lib, 'the removal')
        rig.check(slot == slot1, 'removal from %r reported slot %s, expected '
                  '%s' % (r.reader_name(1), slot, slot1))
        rig.log('removal: slot %d after %.3f s' % (slot, elapsed))
        card.wait_exit()
        info = lib.getSlotInfo(slot1)
        rig.check(not info.flags & PyKCS11.CKF_TOKEN_PRESENT, 'slot %d still '
                  'shows a token after removal' % slot1)
        lib.lib.C_Finalize()


rig.main(test)
