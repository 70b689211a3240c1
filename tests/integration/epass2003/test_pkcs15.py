#!/usr/bin/python3
"""Issue 4, acceptance: a token laid out as OpenSC's pkcs15-init writes it.
kyso reads it with the generic PKCS#15 reader: the certificate and public
key before login, the private key after, all with the PKCS#15 iD; it signs
(verified by OpenSSL with the certificate) and `--login --test` passes."""

import ep_helpers as h
from ep_helpers import check, log, rig


def test():
    work = h.workdir('ep-pkcs15')
    with rig.Rig(readers=2) as r:
        h.start_token(r, work, 'pkcs15')
        env = r.env

        objs, listing = h.objects(env, what='pkcs11-tool -O before login')
        counts = h.count_kinds(objs)
        check(counts.get('cert') == 1 and counts.get('pubkey') == 1 and
              counts.get('privkey', 0) == 0, 'before login: %s\n%s' % (counts, listing))
        objs, listing = h.objects(env, '--login', '--pin', h.PIN,
                                  what='pkcs11-tool --login -O')
        counts = h.count_kinds(objs)
        check(counts.get('privkey') == 1, 'after login: %s\n%s' % (counts, listing))
        ids = set(o['ID'] for o in objs)
        check(len(ids) == 1, 'the key, public key and certificate should share '
              'one iD: %s\n%s' % (ids, listing))
        key_id = ids.pop()
        log('PKCS#15: certificate, public and private key, iD %s' % key_id)

        res = h.tool(env, '--login', '--pin', h.PIN, '--test', timeout=180,
                     what='pkcs11-tool --login --test')
        check('No errors' in res.stdout, 'pkcs11-tool --test:\n%s' % res.describe())
        h.sign_and_verify(env, work, key_id, 'SHA256-RSA-PKCS', 'pkcs15')
        h.sign_and_verify(env, work, key_id, 'SHA256-RSA-PKCS-PSS', 'pkcs15')


if __name__ == '__main__':
    rig.main(test)
