#!/usr/bin/python3
"""Issue 6, p11-kit: with kyso registered in a p11-kit configuration
(a kyso.module file), p11-kit's proxy module
(/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so, what programs load when
they use "the system's PKCS#11 modules") exposes kyso's token.

p11-kit reads ~/.config/pkcs11/modules/ but not as root, so the clients
run as user 65534 (nobody) with a private HOME holding kyso.module and,
for each system module, an override with `disable-in: p11-kit-proxy`
(only kyso is under test). The card is the profile named on the command
line (../clients-nss-openssl/card_profiles.py): `piv` (the demo PIV card)
or `epass2003` (Feitian's vendor layout).

Proofs, all through the proxy module with OpenSC's pkcs11-tool:
1. `pkcs11-tool --module p11-kit-proxy.so -L` shows a token in the rig's
   reader "Kyso vpcd 0 00 00" with the label kyso gives it when loaded
   directly.
2. `-O` lists the card's certificates, and `--read-object --type cert`
   of each gives, byte for byte, the certificate card_profiles read (PIV:
   with OpenSC's own module) and verified against the demo CA.
3. `--login --sign -m SHA256-RSA-PKCS --id ID` with the card's signing
   key (PIV: 9A), and `openssl dgst -verify` accepts the signature with
   the public key of that key's certificate.

Sanitizer builds: skipped (exit 77). libp11-kit deadlocks on its own
locale lock under an ASan preload (see tests/integration/test_install.py);
the lead runs the 'clients' suite on the plain build too.
"""

import os
import shutil

import clients_helpers as c
from clients_helpers import check, h, log, rig

PROXY = '/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so'
SYSTEM_MODULE_DIRS = ('/usr/share/p11-kit/modules', '/etc/pkcs11/modules')
NOBODY = '65534'


def p11kit_home(work):
    """A HOME for user 65534 whose p11-kit user configuration loads kyso
    (a copy of the module under test, readable by that user) and nothing
    else. Returns (HOME, module copy)."""
    home = os.path.join(work, 'home')
    mods = os.path.join(home, '.config', 'pkcs11', 'modules')
    os.makedirs(mods)
    module = os.path.join(home, 'kyso-pkcs11.so')
    shutil.copyfile(h.MODULE, module)
    h.write(os.path.join(mods, 'kyso.module'), 'module: %s\n' % module)
    for d in SYSTEM_MODULE_DIRS:
        for name in (os.listdir(d) if os.path.isdir(d) else []):
            if name.endswith('.module') and name != 'kyso.module':
                h.write(os.path.join(mods, name),
                        'disable-in: p11-kit-proxy, p11-kit\n')
    for root, dirs, files in os.walk(work):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    os.chmod(work, 0o755)
    os.chmod(module, 0o755)
    return home, module


def test():
    if c.sanitizer_build():
        rig.skip('libp11-kit deadlocks under the ASan preload; the plain '
                 'build runs this test')
    if not os.path.exists(PROXY):
        rig.skip('%s is not installed (p11-kit-modules)' % PROXY)
    if shutil.which('setpriv') is None:
        rig.skip('setpriv is not installed')
    rig.require_module()
    work = h.workdir('p11kit-%s' % c.cp.profile_name())
    with rig.Rig(readers=2) as r:
        card, certs, _ = c.card_certs(r, work)
        # Label of the token as kyso reports it when loaded directly.
        direct = h.tool(r.env, '-L', what='pkcs11-tool -L (kyso directly)')
        slot = next((s for s in rig.parse_slots(direct.stdout)
                     if s['description'] == r.reader_name(0)), None)
        check(slot is not None and slot['token'],
              'kyso shows no token in %s:\n%s' % (r.reader_name(0),
                                                 direct.stdout))
        label = slot['token']['token label']

        home, _ = p11kit_home(work)
        out = os.path.join(work, 'out')
        os.makedirs(out)
        os.chmod(out, 0o777)
        # User 65534 must reach the rig's pcscd socket.
        os.chmod(r.dir, 0o711)
        env = dict(r.env, HOME=home, XDG_CONFIG_HOME=os.path.join(home,
                                                                  '.config'))
        as_nobody = ['setpriv', '--reuid=' + NOBODY, '--regid=' + NOBODY,
                     '--clear-groups', 'pkcs11-tool', '--module', PROXY]

        def proxy(*args, what):
            return h.run_ok(as_nobody + list(args), env, what)

        # 1. the token
        res = proxy('-L', what='pkcs11-tool --module p11-kit-proxy.so -L')
        slots = rig.parse_slots(res.stdout)
        mine = [s for s in slots if s['description'] == r.reader_name(0)]
        check(len(mine) == 1 and mine[0]['token'] and
              mine[0]['token'].get('token label') == label,
              'p11-kit-proxy.so does not show kyso\'s token %r in %r:\n%s'
              % (label, r.reader_name(0), res.describe()))
        log('p11-kit-proxy.so -L: token %r in slot "%s"'
            % (label, r.reader_name(0)))

        # 2. the certificates
        res = proxy('-O', what='pkcs11-tool --module p11-kit-proxy.so -O')
        objs = h.parse_objects(res.stdout)
        cert_labels = sorted(o.get('label') for o in objs
                             if o['kind'] == 'cert')
        want_labels = sorted(card.cert_labels)
        check(cert_labels == want_labels, 'p11-kit-proxy.so -O lists '
              'certificates %s, expected %s:\n%s'
              % (cert_labels, want_labels, res.stdout))
        for cert_label in card.cert_labels:
            key_id = card.ids[cert_label]
            der = os.path.join(out, 'proxy-cert-%s.der' % key_id[:8])
            proxy('--read-object', '--type', 'cert', '--id', key_id,
                  '-o', der, what='reading certificate %s through the proxy'
                  % key_id)
            got = h.read(der)
            want = h.read(card.ders[cert_label])
            check(got == want, 'certificate %s through p11-kit-proxy.so '
                  'differs from the card\'s (CA-verified)' % key_id)
        log('p11-kit-proxy.so -O: the %d certificates, same bytes as the '
            'card\'s (CA-verified)' % len(want_labels))

        # 3. a signature
        data = h.write(os.path.join(out, 'data.txt'), 'kyso through p11-kit\n')
        os.chmod(data, 0o644)
        sig = os.path.join(out, 'data.sig')
        proxy('--login', '--pin', card.pin, '--sign', '--id', card.key_id,
              '-m', 'SHA256-RSA-PKCS', '-i', data, '-o', sig,
              what='signing with key %s through the proxy' % card.key_id)
        pub = h.write(os.path.join(work, 'pub-sign.pem'),
                      c.cert_pubkey_pem(r.env, certs[card.key_id]))
        res = rig.run(['openssl', 'dgst', '-sha256', '-verify', pub,
                       '-signature', sig, data], env=r.env)
        check(res.returncode == 0 and 'Verified OK' in res.stdout,
              'openssl dgst -verify refuses the signature made through '
              'p11-kit-proxy.so:\n%s' % res.describe())
        log('p11-kit-proxy.so --sign -m SHA256-RSA-PKCS --id %s: openssl '
            'dgst -verify "Verified OK" with the key of "%s"'
            % (card.key_id, card.cert_label))


rig.main(test)
