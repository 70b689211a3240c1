#!/usr/bin/python3
"""Issue 6, GnuTLS (gnutls-bin: p11tool, gnutls-cli) with kyso's module
and one virtual card, the profile named on the command line
(../clients-nss-openssl/card_profiles.py): `piv` (the demo PIV card, four
keys) or `epass2003` (Feitian's vendor layout: two RSA-2048 keys with
20-byte CKA_IDs, the signing one "NGUYỄN VĂN AN").

1. `p11tool --provider MODULE --list-all-certs` lists the card's
   certificates. Proof: each listed certificate, exported with
   `p11tool --export`, is byte for byte the one card_profiles read (PIV:
   with OpenSC's module) and verified against the demo CA.
2. `p11tool --provider MODULE --login --set-pin=PIN --test-sign
   "pkcs11:...;id=%NN...;type=private"` for every key. Proof: p11tool
   prints "Verifying against public key in the token... ok" and the
   token's public key (`p11tool --export-pubkey`) is the certificate's.
3. `gnutls-cli --x509keyfile "pkcs11:...;id=%..;type=private;pin-value="
   --x509certfile cert.pem` against `openssl s_server -Verify 1
   -verify_return_error` on 127.0.0.1, TLS 1.3 and TLS 1.2 with the
   card's signing key (PIV: 9A), and on the PIV card TLS 1.3 with the
   P-384 key of 9E. Proof: the server's log line `depth=0 SUBJECT` (the
   verified client certificate's subject) and its -www page, which echoes
   the client's certificate.

Sanitizer builds run 1 and 2 only: gnutls-cli hangs at exit inside
libp11-kit under the ASan preload; the plain build runs 3.
"""

import os
import shutil

import clients_helpers as c
from clients_helpers import check, h, log, rig


def p11tool(module, env, *args, what, ok=True):
    res = rig.run(['p11tool', '--provider', module] + list(args), env=env,
                  timeout=60)
    if ok and res.returncode != 0:
        rig.fail('%s failed:\n%s' % (what, res.describe()))
    return res


def token_url(module, env):
    res = p11tool(module, env, '--list-tokens', what='p11tool --list-tokens')
    urls = [l.split('URL:', 1)[1].strip() for l in res.stdout.splitlines()
            if l.strip().startswith('URL:')]
    check(len(urls) == 1, 'p11tool --list-tokens shows %d tokens, expected '
          'the demo card only:\n%s' % (len(urls), res.stdout))
    # The token's URL has model, manufacturer, serial and token (RFC 7512).
    check('token=' in urls[0], 'no token= in %s' % urls[0])
    return urls[0]


def pem_norm(text):
    lines = text.strip().splitlines()
    start = lines.index('-----BEGIN CERTIFICATE-----')
    end = lines.index('-----END CERTIFICATE-----')
    return '\n'.join(lines[start:end + 1])


def list_and_export(module, env, tok, card, certs):
    res = p11tool(module, env, '--list-all-certs', tok,
                  what='p11tool --list-all-certs')
    urls = [l.split('URL:', 1)[1].strip() for l in res.stdout.splitlines()
            if l.strip().startswith('URL:')]
    check(len(urls) == len(certs), 'p11tool --list-all-certs lists %d '
          'certificates, expected the %d of the card:\n%s'
          % (len(urls), len(certs), res.stdout))
    for label in card.cert_labels:
        key_id = card.ids[label]
        check(('Label: %s' % label) in res.stdout, 'p11tool --list-all-certs '
              'does not list %r:\n%s' % (label, res.stdout))
        url = '%s;id=%s;type=cert' % (tok, card.id_uri(key_id))
        out = p11tool(module, env, '--export', url,
                      what='p11tool --export %s' % url).stdout
        with open(certs[key_id]) as f:
            want = f.read()
        check(pem_norm(out) == pem_norm(want), 'p11tool --export of '
              'certificate %s differs from the card\'s (CA-verified)'
              % key_id)
        log('p11tool --list-all-certs: %s, same as the card (CA-verified)'
            % label)


def test_sign(module, env, tok, card, certs, ids, work):
    for key_id in ids:
        url = '%s;id=%s;type=private' % (tok, card.id_uri(key_id))
        res = p11tool(module, env, '--login', '--set-pin=' + card.pin,
                      '--test-sign', url, what='p11tool --test-sign %s' % url)
        out = res.stdout + res.stderr
        check('Verifying against public key in the token... ok' in out,
              'p11tool --test-sign %s: no "Verifying against public key '
              'in the token... ok":\n%s' % (key_id, res.describe()))
        # The token's public key must be the certificate's, or the check
        # above proves nothing about the card.
        # --outfile: without it p11tool warns and sleeps 3 s.
        pub_path = os.path.join(work, 'tok-pub-%s.pem' % key_id[:8])
        p11tool(module, env, '--login', '--set-pin=' + card.pin,
                '--export-pubkey', '--outfile', pub_path,
                '%s;id=%s;type=public' % (tok, card.id_uri(key_id)),
                what='p11tool --export-pubkey %s' % key_id)
        tok_pub = h.openssl(env, 'pkey', '-pubin', '-in', pub_path).stdout
        check(tok_pub.strip() == c.cert_pubkey_pem(env, certs[key_id]).strip(),
              'p11tool --export-pubkey %s is not the public key of the '
              'card\'s certificate' % key_id)
        log('p11tool --test-sign %s: "Verifying against public key in the '
            'token... ok", the certificate\'s key' % key_id)


def tls(module, env, tok, card, certs, work, key_id, version):
    ca = card.ca
    subject = c.cert_subject(env, certs[key_id])
    srv_key = os.path.join(work, 'server.key')
    srv_cert = os.path.join(work, 'server.pem')
    if not os.path.exists(srv_cert):
        h.openssl(env, 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:P-256', '-nodes', '-keyout', srv_key,
                  '-out', srv_cert, '-subj', '/CN=127.0.0.1', '-days', '2')
    port = c.free_port()
    log_path = os.path.join(work, 's_server-%s-%s.log' % (key_id[:8], version))
    prio = {'1.3': 'NORMAL:-VERS-ALL:+VERS-TLS1.3',
            '1.2': 'NORMAL:-VERS-ALL:+VERS-TLS1.2'}[version]
    what = 'gnutls-cli TLS %s client authentication with key %s' % (
        version, key_id)
    with c.Server(['openssl', 's_server', '-accept', '127.0.0.1:%d' % port,
                   '-cert', srv_cert, '-key', srv_key, '-CAfile', ca,
                   '-Verify', '1', '-verify_return_error', '-www'],
                  c.server_env(env), log_path, port,
                  'openssl s_server') as srv:
        key = '%s;id=%s;type=private;pin-value=%s' % (
            tok, card.id_uri(key_id), card.pin)
        res = rig.run(['gnutls-cli', '--provider', module, '--insecure',
                       '--priority', prio, '--x509keyfile', key,
                       '--x509certfile', certs[key_id], '-p', str(port),
                       '127.0.0.1'], env=env, timeout=60,
                      input='GET / HTTP/1.0\r\n\r\n')
        line = 'depth=0 %s' % subject
        log_text = srv.wait_for(line)
    check(res.returncode == 0, '%s failed:\n%s\n--- s_server log\n%s'
          % (what, res.describe(), log_text))
    check(line + '\nverify return:1' in log_text, '%s: s_server did not verify the client '
          'certificate %r:\n%s\n--- s_server log\n%s'
          % (what, subject, res.describe(), log_text))
    # The -www page echoes the client's certificate: the card's one.
    with open(certs[key_id]) as f:
        body = f.read().split('-----BEGIN CERTIFICATE-----', 1)[1]
    check(body.strip() in res.stdout, '%s: the page of s_server does not '
          'show the card\'s certificate:\n%s' % (what, res.stdout))
    proto = 'TLSv%s' % version
    check(proto in res.stdout, '%s: s_server reports no %s session:\n%s'
          % (what, proto, res.stdout))
    log('%s: s_server "%s", verify return:1, %s' % (what, line, proto))


def test():
    for prog in ('p11tool', 'gnutls-cli'):
        if shutil.which(prog) is None:
            rig.skip('%s is not installed (gnutls-bin)' % prog)
    rig.require_module()
    work = h.workdir('gnutls-%s' % c.cp.profile_name())
    with rig.Rig(readers=2) as r:
        card, certs, ids = c.card_certs(r, work)
        env = r.env
        tok = token_url(h.MODULE, env)
        list_and_export(h.MODULE, env, tok, card, certs)
        test_sign(h.MODULE, env, tok, card, certs, ids, work)
        if c.sanitizer_build():
            # gnutls-cli completes the handshake, then hangs at exit in
            # libp11-kit under the ASan preload (as p11-kit does, see
            # tests/integration/test_install.py).
            log('sanitizer build: gnutls-cli TLS left to the plain build')
            return
        tls(h.MODULE, env, tok, card, certs, work, card.key_id, '1.3')
        tls(h.MODULE, env, tok, card, certs, work, card.key_id, '1.2')
        if card.name == 'piv':
            # 9E, Card Authentication: EC P-384.
            tls(h.MODULE, env, tok, card, certs, work, '04', '1.3')


rig.main(test)
