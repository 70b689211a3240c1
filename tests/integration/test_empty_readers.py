#!/usr/bin/python3
"""Two empty vpcd readers: two slots, neither with a token."""

import rig


def test():
    rig.require_module()
    with rig.Rig(readers=2) as r:
        res = rig.pkcs11_tool(rig.MODULE, '-L', env=r.env, timeout=10)
        rig.check(res.returncode == 0, 'pkcs11-tool -L failed:\n'
                  + res.describe())
        slots = rig.parse_slots(res.stdout)
        rig.check(len(slots) == 2, 'expected 2 slots for 2 empty readers, '
                  'got %d:\n%s' % (len(slots), res.stdout))
        names = [r.reader_name(i) for i in range(2)]
        for s in slots:
            rig.check(s['description'] in names, 'slot %s is not named after '
                      'a reader (%s):\n%s' % (s['id'], names, res.stdout))
            rig.check(s['token'] is None and s['empty'], 'slot %s (%s) shows '
                      'a token in an empty reader:\n%s'
                      % (s['id'], s['description'], res.stdout))
        rig.check(len({s['id'] for s in slots}) == 2,
                  'two readers share a slot ID:\n' + res.stdout)
        rig.log('-L: 2 empty slots, %.3f s' % res.elapsed)

        res = rig.pkcs11_tool(rig.MODULE, '-T', env=r.env, timeout=10)
        rig.check(rig.tool_ok(res), 'pkcs11-tool -T failed:\n'
                  + res.describe())
        rig.check(rig.parse_slots(res.stdout) == [], 'pkcs11-tool -T listed '
                  'slots with a token in empty readers:\n' + res.stdout)
        rig.log('-T: no token slots')


rig.main(test)
