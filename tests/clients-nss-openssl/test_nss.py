#!/usr/bin/python3
"""Issue 6: NSS's own tools (the library of Firefox, Thunderbird,
Chromium, LibreOffice) use kyso with one virtual card, the profile named
on the command line (card_profiles.py): `piv` (the demo PIV card, its 9A
key) or `epass2003` (Feitian's vendor layout, the key of the certificate
"NGUYỄN VĂN AN", token "VNPT-CA").

- `modutil -add kyso -libfile MODULE -mechanisms FRIENDLY` registers kyso
  in a fresh database; check: `modutil -list` shows the card's token.
- `certutil -L -h TOKEN` lists the card's certificates without a PIN;
  check: their labels (4 on the PIV card, 2 on the ePass2003), and each certificate (`certutil -L -n TOKEN:LABEL
  -a`) verifies against the demo CA with `openssl verify`.
- `cmsutil -S` signs a message with the card's signing key (PIN from a
  file); check: `openssl cms -verify -CAfile demo-CA` accepts the
  signature and gives back the message, and the signer is the card's
  certificate's CN.
- `tstclnt` authenticates with that key and certificate to `openssl
  s_server -Verify 1 -verify_return_error` (TLS 1.3, then TLS 1.2);
  check: the server's page shows the protocol and the client certificate
  with the card's CN, which verifies against the demo CA.
"""

import os
import re

import clients_helpers as c
from clients_helpers import check, h, log, rig


def nss(cmd, env, what, timeout=60):
    # NSS prompts on the terminal for what it lacks: setsid leaves it
    # none and stdin is empty, so a prompt fails at once, never hangs.
    return h.run_ok(['setsid', '-w'] + cmd, env, what, input='',
                    timeout=timeout)


def test():
    profile = c.cp.profile_name()
    work = h.workdir('clients-nss-%s' % profile)
    with rig.Rig(readers=2) as r:
        card = c.cp.start(r, work, profile)
        ca = card.ca
        env = r.env
        token = card.token
        nick = '%s:%s' % (token, card.cert_label)

        dbdir = os.path.join(work, 'db')
        os.makedirs(dbdir)
        db = 'sql:' + dbdir
        pinfile = h.write(os.path.join(work, 'pin.txt'), card.pin + '\n')

        # Registration, as a Firefox or Thunderbird user does it.
        nss(['certutil', '-N', '-d', db, '--empty-password'], env,
            'certutil -N')
        nss(['modutil', '-dbdir', db, '-add', 'kyso', '-libfile', c.MODULE,
             '-force', '-mechanisms', 'FRIENDLY'], env, 'modutil -add kyso')
        res = nss(['modutil', '-dbdir', db, '-list'], env, 'modutil -list')
        check(re.search(r'^\s*token:\s*%s\s*$' % re.escape(token), res.stdout,
                        re.M),
              'modutil -list does not show the token "%s":\n%s'
              % (token, res.stdout))
        log('modutil -list: kyso registered, token "%s"' % token)

        # The certificates, without a PIN.
        res = nss(['certutil', '-L', '-d', db, '-h', token], env,
                  'certutil -L -h')
        listed = sorted(m.group(1).strip() for m in re.finditer(
            r'^%s:(.*?)\s+[a-zA-Z]*,[a-zA-Z]*,[a-zA-Z]*$' % re.escape(token),
            res.stdout, re.M))
        want = sorted(card.cert_labels)
        check(listed == want, 'certutil -L -h lists %s, expected %s:\n%s'
              % (listed, want, res.stdout))
        for label in listed:
            res = nss(['certutil', '-L', '-d', db, '-n',
                       '%s:%s' % (token, label), '-a'], env,
                      'certutil -L -n "%s" -a' % label)
            pem = h.write(os.path.join(work, 'nss-%s.pem'
                                       % card.ids[label]), res.stdout)
            v = rig.run(['openssl', 'verify', '-CAfile', ca, pem], env=env)
            check(v.returncode == 0 and ': OK' in v.stdout,
                  'the certificate "%s" NSS read from the card does not '
                  'verify against the demo CA:\n%s' % (label, v.describe()))
        log('certutil -L -h: %s; each verifies against the demo CA'
            % ', '.join(listed))

        # CMS signing (S/MIME, as Thunderbird signs mail). NSS builds the
        # signer's chain, so it must know the demo CA, as a mail user's
        # database knows their issuer.
        nss(['certutil', '-A', '-d', db, '-n', 'kyso demo CA', '-t', 'C,C,C',
             '-i', ca], env, 'certutil -A (the demo CA)')
        data = h.write(os.path.join(work, 'message.txt'),
                       'kyso issue 6: signed by NSS with the card\n')
        p7m = os.path.join(work, 'message.p7m')
        nss(['cmsutil', '-S', '-d', db, '-N', nick, '-f', pinfile,
             '-H', 'SHA256', '-i', data, '-o', p7m], env,
            'cmsutil -S -N "%s"' % nick)
        out = os.path.join(work, 'message.out')
        signer = os.path.join(work, 'signer.pem')
        res = rig.run(['openssl', 'cms', '-verify', '-inform', 'DER', '-in',
                       p7m, '-CAfile', ca, '-out', out, '-signer', signer],
                      env=env)
        check(res.returncode == 0 and
              'Verification successful' in res.stdout + res.stderr,
              'openssl cms -verify refuses the signature cmsutil made with '
              'the card:\n%s' % res.describe())
        check(h.read(out) == h.read(data), 'openssl cms -verify gives back '
              'other content than the message that was signed')
        cn = c.cp.cert_cn(env, signer)
        check(cn == card.cn, 'the CMS signer is CN = %s, not %s'
              % (cn, card.cn))
        log('cmsutil -S: openssl cms -verify: Verification successful, '
            'signer CN = %s' % cn)

        # TLS client authentication.
        cert, key = c.server_cert(work, env)
        nss(['certutil', '-A', '-d', db, '-n', 'test server', '-t', 'P,,',
             '-i', cert], env, 'certutil -A (trust the test server)')
        request = h.write(os.path.join(work, 'request.txt'), c.HTTP_REQUEST)
        for version, protocol in (('tls1.3', 'TLSv1.3'),
                                  ('tls1.2', 'TLSv1.2')):
            what = 'tstclnt %s' % protocol
            with c.TlsServer(r, work, ca, cert, key,
                             name='server-%s' % version) as srv:
                res = nss(['tstclnt', '-h', '127.0.0.1', '-p', str(srv.port),
                           '-d', db, '-n', nick, '-W', pinfile, '-A', request,
                           '-V', '%s:%s' % (version, version)], env, what)
                c.check_client_auth_page(res.stdout, ca, card.cn, protocol,
                                         work, what, env)


rig.main(test)
