#!/usr/bin/python3
"""Issue 3, acceptance: NSS (the library of Firefox, Chromium,
LibreOffice) uses kyso. In a fresh NSS database, `modutil -add` loads the
module; `certutil -L -h TOKEN` lists the 4 certificates by label without a
PIN (the module is added with the FRIENDLY flag, as the lab notes say);
`certutil -K -h TOKEN -f pwfile` lists the 4 keys after login; and
`certutil -R` signs a certificate request with the card's RSA and EC keys,
which `openssl req -verify` accepts."""

import os
import re

import piv_helpers as h
from piv_helpers import check, log, rig


def nss(cmd, env, what):
    # NSS prompts on the terminal for anything it lacks: setsid leaves it
    # none, and stdin is empty, so a prompt fails at once instead of
    # hanging the test.
    return h.run_ok(['setsid', '-w'] + cmd, env, what, input='')


def test():
    work = h.workdir('nss')
    with rig.Rig(readers=2) as r:
        h.start_demo_card(r, work)
        env = r.env
        res = h.tool(env, '-L', what='pkcs11-tool -L')
        token = next(s for s in rig.parse_slots(res.stdout)
                     if s['description'] == r.reader_name(0))['token'][
                         'token label']

        os.makedirs(os.path.join(work, 'db'))
        db = 'sql:' + os.path.join(work, 'db')
        pwfile = h.write(os.path.join(work, 'pin.txt'), h.PIN + '\n')
        nss(['certutil', '-N', '-d', db, '--empty-password'], env,
            'certutil -N (a new NSS database)')
        nss(['modutil', '-dbdir', db, '-add', 'kyso', '-libfile', h.MODULE,
             '-force', '-mechanisms', 'FRIENDLY'], env, 'modutil -add kyso')
        # (`-list kyso` fails on the rig's empty reader: modutil wants
        # token information from every slot.)
        res = nss(['modutil', '-dbdir', db, '-list'], env, 'modutil -list')
        check('token: %s' % token in res.stdout, 'modutil -list does not show '
              'the token "%s":\n%s' % (token, res.stdout))

        # The certificates, by label, without a PIN.
        res = nss(['certutil', '-L', '-d', db, '-h', token], env,
                  'certutil -L -h "%s"' % token)
        listed = sorted(m.group(1).strip() for m in re.finditer(
            r'^%s:(.*?)\s+[a-zA-Z]*,[a-zA-Z]*,[a-zA-Z]*$' % re.escape(token),
            res.stdout, re.M))
        want = sorted(k['cert_label'] for k in h.DEMO_KEYS)
        check(listed == want, 'certutil -L -h lists %s, expected %s:\n%s'
              % (listed, want, res.stdout))
        log('certutil -L -h "%s": %s' % (token, ', '.join(listed)))

        # The keys, after login.
        res = nss(['certutil', '-K', '-d', db, '-h', token, '-f', pwfile],
                  env, 'certutil -K -h "%s"' % token)
        keys = re.findall(r'^<\s*\d+>\s+(rsa|ec)\s+(\S+)\s+(.*)$', res.stdout,
                          re.M)
        got = sorted((kind, kid.lower(), name.strip())
                     for kind, kid, name in keys)
        labels = {1: 'PIV AUTH key', 2: 'SIGN key', 3: 'KEY MAN key',
                  4: 'CARD AUTH key'}
        want = sorted((k['type'], '%02x' % k['id'], labels[k['id']])
                      for k in h.DEMO_KEYS)
        check(got == want, 'certutil -K lists %s, expected %s:\n%s'
              % (got, want, res.stdout))
        log('certutil -K -h "%s": %d keys' % (token, len(got)))

        # NSS signs with the card.
        for key_id in ('01', '04'):
            req = os.path.join(work, 'req-%s.pem' % key_id)
            what = 'certutil -R with key %s' % key_id
            nss(['certutil', '-R', '-d', db, '-h', token, '-k', key_id,
                 '-f', pwfile, '-s', 'CN=kyso NSS test %s' % key_id, '-a',
                 '-o', req], env, what)
            res = rig.run(['openssl', 'req', '-verify', '-in', req, '-noout'],
                          env=env)
            check(res.returncode == 0 and 'verify OK' in res.stdout +
                  res.stderr, '%s: openssl req -verify refuses the request:'
                  '\n%s' % (what, res.describe()))
            log('%s: signed on the card, openssl req -verify OK' % what)


rig.main(test)
