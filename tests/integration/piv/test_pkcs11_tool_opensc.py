#!/usr/bin/python3
"""Issue 3, acceptance: the virtual PIV card is faithful, not tuned to
kyso's driver. OpenSC's own module recognises it as a PIV card,
`pkcs11-tool --login --pin 123456 --test` passes on it, and OpenSC shows
the same certificates under the same CKA_IDs as kyso does."""

import re

import piv_helpers as h
from piv_helpers import check, log, rig


def certs_by_subject(listing):
    return {o.get('subject'): o.get('ID') for o in h.parse_objects(listing)
            if o['kind'] == 'cert'}


def test():
    work = h.workdir('opensc')
    with rig.Rig(readers=2) as r:
        h.start_demo_card(r, work)
        env = h.opensc_env(r, work)
        name = r.reader_name(0)

        res = h.tool(env, '-L', module=h.OPENSC_MODULE,
                     what='OpenSC pkcs11-tool -L')
        slot = next((s for s in rig.parse_slots(res.stdout)
                     if s['description'].startswith(name)), None)
        check(slot is not None and slot['token'] is not None,
              'OpenSC does not recognise the virtual PIV card in %s:\n%s'
              % (name, res.describe()))
        log('OpenSC sees token "%s"' % slot['token'].get('token label'))

        res = h.tool(env, '--login', '--pin', h.PIN, '--test',
                     module=h.OPENSC_MODULE, timeout=120,
                     what='OpenSC pkcs11-tool --login --test')
        out = res.stdout
        check('No errors' in out and not re.search(r'\d+ errors', out),
              'OpenSC pkcs11-tool --test reports errors:\n' + res.describe())
        sig = out.split('Signatures', 1)[-1].split('Verify', 1)[0]
        tested = re.findall(r'testing key (\d+)', sig)
        check(len(tested) >= 4, 'OpenSC pkcs11-tool --test tried %d keys for '
              'signatures, expected 4:\n%s' % (len(tested), out))
        check(re.search(r'^\s+RSA-PKCS: OK$', sig, re.M),
              'OpenSC pkcs11-tool --test signed nothing with RSA-PKCS:\n' + out)
        log('OpenSC pkcs11-tool --test: no errors, %d keys (%.2f s)'
            % (len(tested), res.elapsed))

        # The same key has the same id in both modules (issue 3, "IDs and
        # labels follow common practice").
        res = h.tool(env, '--login', '--pin', h.PIN, '-O',
                     module=h.OPENSC_MODULE, what='OpenSC pkcs11-tool -O')
        theirs = certs_by_subject(res.stdout)
        counts = h.count_kinds(h.parse_objects(res.stdout))
        check(counts.get('cert') == 4 and counts.get('privkey') == 4,
              'OpenSC lists %s, expected 4 certificates and 4 private keys:\n%s'
              % (counts, res.stdout))
        res = h.tool(r.env, '-O', what='kyso pkcs11-tool -O')
        ours = certs_by_subject(res.stdout)
        check(ours == theirs, 'kyso and OpenSC disagree on certificate ids '
              '(subject: id): kyso %s, OpenSC %s' % (ours, theirs))
        log('kyso and OpenSC give the 4 certificates the same ids: %s'
            % sorted(ours.values()))


rig.main(test)
