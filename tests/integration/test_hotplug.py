#!/usr/bin/python3
"""Card hot-plug and C_WaitForSlotEvent, from threads.

A thread blocks in C_WaitForSlotEvent while the test inserts a card, then
removes it: each time the event arrives and names the card's slot.
CKF_DONT_BLOCK answers CKR_NO_EVENT when nothing happened, and C_Finalize
from another thread wakes a blocked wait with CKR_CRYPTOKI_NOT_INITIALIZED
(PKCS#11 2.40, 5.5 C_WaitForSlotEvent and C_Finalize).

The calls go through ctypes, which releases the GIL while a C function
runs (PyKCS11 does not: test_hotplug_pykcs11 covers PyKCS11 itself)."""

import faulthandler
import threading
import time

import p11
import rig

EVENT_WAIT_S = 5.0
# The first wait must still be blocked after this long with nothing
# happening, to show it really blocks.
BLOCKED_S = 0.5


class Waiter:
    """C_WaitForSlotEvent(flags=0) in a thread of its own."""

    def __init__(self, module):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(module,),
                                       daemon=True)
        self.thread.start()

    def _run(self, module):
        self.result = module.wait_for_slot_event(0)

    def done(self):
        return not self.thread.is_alive()

    def get(self, what, timeout=EVENT_WAIT_S):
        self.thread.join(timeout)
        rig.check(self.done(), 'C_WaitForSlotEvent still blocked %s s after '
                  '%s' % (timeout, what))
        return self.result


def dont_block(m, what):
    rv, slot = m.wait_for_slot_event(p11.CKF_DONT_BLOCK)
    rig.check(rv == p11.CKR_NO_EVENT, 'C_WaitForSlotEvent(CKF_DONT_BLOCK) %s:'
              ' %s (slot %s), expected CKR_NO_EVENT'
              % (what, p11.rv_name(rv), slot))


def test():
    rig.require_module()
    # A hang here must end the test, not the suite: dump the threads and
    # exit (the rig's processes die with us).
    faulthandler.dump_traceback_later(90, exit=True)
    with rig.Rig(readers=2) as r:
        m = p11.Module(rig.MODULE)
        rv = m.initialize(threads=True)
        rig.check(rv == p11.CKR_OK, 'C_Initialize: %s' % p11.rv_name(rv))

        rv, slots = m.slot_list(False)
        rig.check(rv == p11.CKR_OK and len(slots) == 2, 'C_GetSlotList: %s, '
                  '%s (expected 2 slots)' % (p11.rv_name(rv), slots))
        by_reader = {}
        for s in slots:
            rv, info = m.slot_info(s)
            rig.check(rv == p11.CKR_OK, 'C_GetSlotInfo(%d): %s'
                      % (s, p11.rv_name(rv)))
            rig.check(not info.flags & p11.CKF_TOKEN_PRESENT, 'slot %d shows '
                      'a token in an empty reader' % s)
            by_reader[info.description] = s
        slot1 = by_reader.get(r.reader_name(1))
        rig.check(slot1 is not None, 'no slot named %r among %s'
                  % (r.reader_name(1), list(by_reader)))

        dont_block(m, 'with nothing happened')
        rig.log('2 slots, CKF_DONT_BLOCK: CKR_NO_EVENT')

        # Insertion while a thread waits.
        w = Waiter(m)
        time.sleep(BLOCKED_S)
        rig.check(not w.done(), 'C_WaitForSlotEvent returned %s with no '
                  'event' % (w.result,))
        start = time.monotonic()
        card = r.start_card(1, 'unknown')
        rv, slot = w.get('the card was inserted')
        rig.check(rv == p11.CKR_OK and slot == slot1, 'insertion: '
                  'C_WaitForSlotEvent gave %s, slot %s (expected CKR_OK, '
                  'slot %s)' % (p11.rv_name(rv), slot, slot1))
        rig.log('insertion: event for slot %d after %.3f s'
                % (slot, time.monotonic() - start))

        time.sleep(0.3)
        dont_block(m, 'after the insertion event was fetched')

        # Removal while a thread waits.
        w = Waiter(m)
        time.sleep(BLOCKED_S)
        rig.check(not w.done(), 'C_WaitForSlotEvent returned %s with no '
                  'event' % (w.result,))
        start = time.monotonic()
        card.stop()
        rv, slot = w.get('the card was removed')
        rig.check(rv == p11.CKR_OK and slot == slot1, 'removal: '
                  'C_WaitForSlotEvent gave %s, slot %s (expected CKR_OK, '
                  'slot %s)' % (p11.rv_name(rv), slot, slot1))
        rv, info = m.slot_info(slot1)
        rig.check(rv == p11.CKR_OK and not info.flags & p11.CKF_TOKEN_PRESENT,
                  'after removal C_GetSlotInfo(%d): %s, flags 0x%x'
                  % (slot1, p11.rv_name(rv), info.flags))
        rig.log('removal: event for slot %d after %.3f s'
                % (slot, time.monotonic() - start))

        time.sleep(0.3)
        dont_block(m, 'after the removal event was fetched')

        # An insertion while nobody waits is kept for the next call.
        card = r.start_card(0, 'unknown')
        time.sleep(0.3)
        rv, slot = m.wait_for_slot_event(p11.CKF_DONT_BLOCK)
        rig.check(rv == p11.CKR_OK and slot == by_reader[r.reader_name(0)],
                  'an insertion before the call: C_WaitForSlotEvent('
                  'CKF_DONT_BLOCK) gave %s, slot %s (expected CKR_OK, slot %s)'
                  % (p11.rv_name(rv), slot, by_reader[r.reader_name(0)]))
        rig.log('insertion before the call: CKF_DONT_BLOCK reports slot %d'
                % slot)

        # C_Finalize from another thread wakes a blocked wait.
        w = Waiter(m)
        time.sleep(BLOCKED_S)
        rig.check(not w.done(), 'C_WaitForSlotEvent returned %s with no '
                  'event' % (w.result,))
        start = time.monotonic()
        rv = m.finalize()
        rig.check(rv == p11.CKR_OK, 'C_Finalize: %s' % p11.rv_name(rv))
        rv, slot = w.get('C_Finalize', timeout=3.0)
        rig.check(rv == p11.CKR_CRYPTOKI_NOT_INITIALIZED, 'C_Finalize woke '
                  'C_WaitForSlotEvent with %s (expected '
                  'CKR_CRYPTOKI_NOT_INITIALIZED)' % p11.rv_name(rv))
        rig.log('C_Finalize woke the waiting thread after %.3f s'
                % (time.monotonic() - start))
        card.stop()


rig.main(test)
