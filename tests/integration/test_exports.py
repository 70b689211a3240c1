"""The module exports the PKCS#11 entry points and nothing else
(`nm -D --defined-only` shows only C_* names), and all 68 of them."""

import re

import rig


def test():
    rig.require_module()
    res = rig.run(['nm', '-D', '--defined-only', rig.MODULE])
    rig.check(res.returncode == 0, res.describe())
    names = [line.split()[-1] for line in res.stdout.splitlines() if line.strip()]
    others = [n for n in names if not n.startswith('C_')]
    rig.check(not others, 'the module exports more than C_*: %s' % ', '.join(others))
    rig.check(all(re.fullmatch(r'C_[A-Za-z]+', n) for n in names),
              'odd exported names: %s' % names)
    rig.check(len(names) == 68, 'expected the 68 PKCS#11 2.40 functions, found %d: %s'
              % (len(names), ' '.join(sorted(names))))


if __name__ == '__main__':
    rig.main(test)
