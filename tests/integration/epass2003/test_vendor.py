#!/usr/bin/python3
"""Issue 4, acceptance: a token with Feitian's vendor layout
(ENTERSAFE-ESPK), as Vietnamese CAs issue them. OpenSC says "token not
recognized"; kyso lists both certificates and public keys before login and
the private keys after, with the CKA_ID and labels the vendor layout
stores (each key's id is its certificate's); `pkcs11-tool --login --test`
passes; OpenSSL verifies kyso's PKCS#1 v1.5 and PSS signatures with the
certificate's public key."""

import ep_helpers as h
from ep_helpers import check, log, rig


def test():
    work = h.workdir('ep-vendor')
    with rig.Rig(readers=2) as r:
        h.start_token(r, work, 'vendor')
        env = r.env

        # OpenSC's module does not read this layout (#3834).
        oenv = h.opensc_env(r, work)
        res = h.tool(oenv, '-L', module=h.OPENSC_MODULE, what='OpenSC -L', ok=False)
        check('token not recognized' in res.stdout,
              'OpenSC recognised the vendor layout?\n%s' % res.describe())
        log('OpenSC: token not recognized')

        objs, listing = h.objects(env, what='pkcs11-tool -O before login')
        counts = h.count_kinds(objs)
        check(counts.get('cert') == 2 and counts.get('pubkey') == 2 and
              counts.get('privkey', 0) == 0,
              'before login: %s\n%s' % (counts, listing))
        certs = [o for o in objs if o['kind'] == 'cert']
        cert_ids = sorted(o['ID'] for o in certs)
        check(all(len(i) == 40 for i in cert_ids), 'CKA_IDs %s are not the '
              'SHA-1 ids Feitian middleware stores' % cert_ids)
        check(any('NGUY' in o.get('label', '') for o in certs),
              'certificate labels: %s' % [o.get('label') for o in certs])

        objs, listing = h.objects(env, '--login', '--pin', h.PIN,
                                  what='pkcs11-tool --login -O')
        counts = h.count_kinds(objs)
        check(counts.get('cert') == 2 and counts.get('pubkey') == 2 and
              counts.get('privkey') == 2, 'after login: %s\n%s' % (counts, listing))
        priv_ids = sorted(o['ID'] for o in objs if o['kind'] == 'privkey')
        check(priv_ids == cert_ids, 'private key ids %s are not the '
              'certificate ids %s' % (priv_ids, cert_ids))
        log('2 certificates, 2 public keys, 2 private keys, ids %s' % cert_ids)
        # The usages are the ones Feitian's key files store, not kyso's
        # defaults: the signing key (its certificate has no "(mã hóa)",
        # encryption, in its label) may not unwrap, the encryption key may.
        usage = {o['ID']: set(u.strip() for u in o.get('Usage', '').split(','))
                 for o in objs if o['kind'] == 'privkey'}
        label = {o['ID']: o.get('label', '') for o in certs}
        signing = [i for i in cert_ids if 'mã hóa' not in label[i]]
        check(len(signing) == 1, 'which certificate signs? %s' % label)
        other = [i for i in cert_ids if i not in signing][0]
        check('sign' in usage[signing[0]] and 'unwrap' not in usage[signing[0]] and
              'unwrap' in usage[other], 'private key usages %s are not the '
              'stored ones (signing key %s)' % (usage, signing[0]))
        log('usages as stored: %s' % usage)

        res = h.tool(env, '--login', '--pin', h.PIN, '--test', timeout=180,
                     what='pkcs11-tool --login --test')
        check('No errors' in res.stdout, 'pkcs11-tool --test:\n%s' % res.describe())
        log('pkcs11-tool --login --test: no errors')

        for key_id in cert_ids:
            h.sign_and_verify(env, work, key_id, 'SHA256-RSA-PKCS', 'vendor')
        h.sign_and_verify(env, work, cert_ids[0], 'SHA256-RSA-PKCS-PSS', 'vendor')


if __name__ == '__main__':
    rig.main(test)
