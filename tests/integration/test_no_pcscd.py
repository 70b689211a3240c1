#!/usr/bin/python3
"""With no pcscd at all, the module still initialises at once and shows
zero slots: a host application must never wait for, or fail on, PC/SC."""

import os
import time

import rig

LIMIT_S = 0.5
NO_SOCKET = '/nonexistent/kyso-no-pcscd/pcscd.comm'


def test():
    rig.require_module()
    env = dict(os.environ)
    env['PCSCLITE_CSOCK_NAME'] = NO_SOCKET

    res = rig.pkcs11_tool(rig.MODULE, '-L', env=env, timeout=10)
    rig.check(rig.tool_ok(res), 'pkcs11-tool -L failed without pcscd:\n'
              + res.describe())
    slots = rig.parse_slots(res.stdout)
    rig.check(slots == [], 'pkcs11-tool -L listed slots without pcscd: %s\n%s'
              % (slots, res.describe()))
    rig.check(res.elapsed < LIMIT_S, 'pkcs11-tool -L took %.3f s without '
              'pcscd (limit %.1f s)' % (res.elapsed, LIMIT_S))
    rig.log('-L: no slots, exit %d, %.3f s' % (res.returncode, res.elapsed))

    res = rig.pkcs11_tool(rig.MODULE, '-I', env=env, timeout=10)
    rig.check(rig.tool_ok(res), 'pkcs11-tool -I failed without pcscd:\n'
              + res.describe())
    rig.check('Cryptoki version' in res.stdout,
              'pkcs11-tool -I printed no module info:\n' + res.describe())
    rig.log('-I: ok, exit %d, %.3f s' % (res.returncode, res.elapsed))

    res = rig.pkcs11_tool(rig.MODULE, '-T', env=env, timeout=10)
    rig.check(rig.tool_ok(res), 'pkcs11-tool -T failed without pcscd:\n'
              + res.describe())
    slots = rig.parse_slots(res.stdout)
    rig.check(slots == [], 'pkcs11-tool -T listed slots without pcscd: %s\n%s'
              % (slots, res.describe()))
    rig.check(res.elapsed < LIMIT_S, 'pkcs11-tool -T took %.3f s without '
              'pcscd (limit %.1f s)' % (res.elapsed, LIMIT_S))
    rig.log('-T: no slots, exit %d, %.3f s' % (res.returncode, res.elapsed))

    # The same, in this process and without pkcs11-tool's exit status in
    # the way: C_Initialize succeeds, zero slots, C_Finalize.
    os.environ['PCSCLITE_CSOCK_NAME'] = NO_SOCKET
    import p11
    m = p11.Module(rig.MODULE)
    start = time.monotonic()
    rv = m.initialize()
    rig.check(rv == p11.CKR_OK, 'C_Initialize without pcscd: %s'
              % p11.rv_name(rv))
    rv, slots = m.slot_list(False)
    rig.check(rv == p11.CKR_OK and slots == [], 'C_GetSlotList without '
              'pcscd: %s, %s' % (p11.rv_name(rv), slots))
    rv, slots = m.slot_list(True)
    rig.check(rv == p11.CKR_OK and slots == [], 'C_GetSlotList(token '
              'present) without pcscd: %s, %s' % (p11.rv_name(rv), slots))
    rv, _ = m.wait_for_slot_event(p11.CKF_DONT_BLOCK)
    rig.check(rv == p11.CKR_NO_EVENT, 'C_WaitForSlotEvent(CKF_DONT_BLOCK) '
              'without pcscd: %s (expected CKR_NO_EVENT)' % p11.rv_name(rv))
    rv = m.finalize()
    rig.check(rv == p11.CKR_OK, 'C_Finalize: %s' % p11.rv_name(rv))
    elapsed = time.monotonic() - start
    rig.check(elapsed < LIMIT_S, 'initialise, list, finalise took %.3f s '
              'without pcscd (limit %.1f s)' % (elapsed, LIMIT_S))
    rig.log('C_Initialize/C_GetSlotList/C_Finalize: 0 slots, %.3f s' % elapsed)


rig.main(test)
