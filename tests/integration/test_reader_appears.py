#!/usr/bin/python3
"""Readers that appear later, and a pcscd that restarts.

vpcd readers cannot be hot-plugged into a running pcscd: pcsc-lite 1.9.9
built with libudev (Debian's) ignores the rescan request (SIGUSR1,
`pcscd --hotplug`) for reader.conf readers, and there is no USB here.
The closest thing is what a user sees when pcscd restarts with more
readers: the host application keeps its module loaded, the new readers
must show up as slots at the next C_GetSlotList, and a thread blocked in
C_WaitForSlotEvent must live through the restart and report events."""

import faulthandler
import threading
import time

import p11
import rig

EVENT_WAIT_S = 10.0


def test():
    rig.require_module()
    faulthandler.dump_traceback_later(90, exit=True)
    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'unknown')
        m = p11.Module(rig.MODULE)
        rv = m.initialize(threads=True)
        rig.check(rv == p11.CKR_OK, 'C_Initialize: %s' % p11.rv_name(rv))
        rv, slots = m.slot_list(False)
        rig.check(rv == p11.CKR_OK and len(slots) == 2, 'C_GetSlotList: %s, %s'
                  ' (expected 2 slots)' % (p11.rv_name(rv), slots))

        result = []
        waiter = threading.Thread(
            target=lambda: result.append(m.wait_for_slot_event(0)),
            daemon=True)
        waiter.start()
        time.sleep(0.5)
        rig.check(not result, 'C_WaitForSlotEvent returned %s with no event'
                  % result)

        # pcscd restarts with four readers; the card in reader 0 comes back.
        start = time.monotonic()
        r.restart_pcscd(readers=4)
        r.wait_card(0, present=True)
        rv, slots = m.slot_list(False)
        rig.check(rv == p11.CKR_OK and len(slots) == 4, 'after pcscd '
                  'restarted with 4 readers, C_GetSlotList: %s, %s (expected '
                  '4 slots)' % (p11.rv_name(rv), slots))
        names = {}
        for s in slots:
            rv, info = m.slot_info(s)
            rig.check(rv == p11.CKR_OK, 'C_GetSlotInfo(%d): %s'
                      % (s, p11.rv_name(rv)))
            names[info.description] = s
        want = {r.reader_name(i) for i in range(4)}
        rig.check(set(names) == want, 'slots %s, expected one per reader %s'
                  % (sorted(names), sorted(want)))
        rig.log('pcscd restarted with 4 readers: 4 slots after %.3f s'
                % (time.monotonic() - start))

        # The blocked thread saw readers come and go: it returns an event.
        waiter.join(EVENT_WAIT_S)
        rig.check(not waiter.is_alive(), 'C_WaitForSlotEvent still blocked '
                  '%s s after pcscd restarted with new readers' % EVENT_WAIT_S)
        rv, slot = result[0]
        rig.check(rv == p11.CKR_OK, 'C_WaitForSlotEvent over a pcscd restart '
                  'gave %s (expected CKR_OK and a slot)' % p11.rv_name(rv))
        rig.log('blocked C_WaitForSlotEvent returned slot %d' % slot)

        # Drain what the restart produced, then a card in a new reader is
        # an event for that reader's slot.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rv, _ = m.wait_for_slot_event(p11.CKF_DONT_BLOCK)
            if rv == p11.CKR_NO_EVENT:
                break
            rig.check(rv == p11.CKR_OK, 'C_WaitForSlotEvent(CKF_DONT_BLOCK) '
                      'gave %s' % p11.rv_name(rv))
            time.sleep(0.1)
        result.clear()
        waiter = threading.Thread(
            target=lambda: result.append(m.wait_for_slot_event(0)),
            daemon=True)
        waiter.start()
        time.sleep(0.3)
        new_card = r.start_card(3, 'unknown')
        waiter.join(EVENT_WAIT_S)
        rig.check(not waiter.is_alive(), 'no event for a card inserted in a '
                  'reader that appeared with the restart')
        rv, slot = result[0]
        rig.check(rv == p11.CKR_OK and slot == names[r.reader_name(3)],
                  'card in new reader: %s, slot %s (expected CKR_OK, slot %s)'
                  % (p11.rv_name(rv), slot, names[r.reader_name(3)]))
        rig.log('card in a new reader: event for slot %d' % slot)

        rv = m.finalize()
        rig.check(rv == p11.CKR_OK, 'C_Finalize: %s' % p11.rv_name(rv))
        new_card.stop()
        card.stop()


rig.main(test)
