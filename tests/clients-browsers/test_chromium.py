#!/usr/bin/python3
"""Issue 6: Chromium (Debian's chromium) authenticates to HTTPS servers
with a card's signing key and certificate through kyso. The card is the
profile named on the command line (../clients-nss-openssl/
card_profiles.py): `piv` (the demo PIV card's 9A key) or `epass2003`
(Feitian's vendor layout, the key of "NGUYỄN VĂN AN").

Set-up, as docs/guides/chromium.md tells a resident: a scratch HOME whose
NSS database ($HOME/.pki/nssdb, made with `certutil -N`) has kyso
registered with `modutil -add kyso -libfile MODULE -mechanisms
FRIENDLY`, and the test servers' CA trusted in it (`certutil -A -t C,,`).
Chromium runs headful on a private Xvfb. The certificate chooser is skipped the way the
AutoSelectCertificateForUrls policy does it, but per profile: the content
setting auto_select_certificate (filter SUBJECT CN = the card's CN) in
the fresh profile's Preferences, so no file is written under /etc. The
ePass2003's two certificates (signing, encryption) have the same subject:
the filter matches both and Chromium takes the first kyso lists, the
signing one (the order of the token's own index); were it the encryption
one, the server would refuse it (no digitalSignature, no clientAuth) and
the test would fail saying so.

The scenario (browsers_helpers.client_auth_session):
1. https://127.0.0.1:P1/ (TLS 1.3 only, client certificate required):
   Chromium's real "Unlock Security Device" dialog asks for the PIN and
   xdotool types it. Check: P1's log line
   `client certificate: subject="O = kyso, CN = kyso demo 9A"
   sha256=<the card's certificate, CA-verified> protocol=TLSv1.3`
   (RSA-PSS signature on the card: CKM_RSA_PKCS_PSS).
2. P1's page leads on to P2 (TLS 1.2 only, rsa_pkcs1_sha256 only:
   CKM_RSA_PKCS). Check: the same line with protocol=TLSv1.2.
3. Negative: the card is pulled out and P3's address typed into the
   address bar. Check: P3 sees a handshake and verifies no certificate.
Sanitizer builds skip this test (under the ASan preload chromium hangs
at start-up); the plain build runs it.
"""

import json
import os

import browsers_helpers as b
from browsers_helpers import cp, h, rig

PIN_DIALOG = '^Unlock Security Device'


def write_preferences(profile_dir, urls, cn):
    """The fresh profile's Preferences: the AUTO_SELECT_CERTIFICATE
    content setting for each URL's origin, with the filter the
    AutoSelectCertificateForUrls policy takes ({"SUBJECT": {"CN": ...}}),
    so Chromium picks the card's certificate with subject CN `cn` without
    showing its chooser."""
    exceptions = {}
    for u in urls:
        exceptions['%s,*' % u.rstrip('/')] = {
            'last_modified': '13300000000000000',
            'setting': {'filters': [{'SUBJECT': {'CN': cn}}]},
        }
    prefs = {
        'profile': {'content_settings': {'exceptions': {
            'auto_select_certificate': exceptions}}},
        'browser': {'has_seen_welcome_page': True},
    }
    os.makedirs(profile_dir, exist_ok=True)
    with open(os.path.join(profile_dir, 'Preferences'), 'w') as f:
        json.dump(prefs, f)


def test():
    b.need_programs('chromium', 'xdotool', 'Xvfb', 'xauth', 'modutil',
                    'certutil')
    if b.sanitizer_build():
        rig.skip('chromium hangs at start-up under the ASan preload; the '
                 'plain build runs this test')
    rig.require_module()
    profile = cp.profile_name()
    work = h.workdir('chromium-%s' % profile)
    home = os.path.join(work, 'home')
    nssdb = os.path.join(home, '.pki', 'nssdb')
    user_data = os.path.join(work, 'chromium-profile')
    os.makedirs(nssdb)
    with rig.Rig(readers=2) as r:
        card = cp.start(r, work, profile)
        env = dict(r.env)
        env['HOME'] = home
        b.nss(['certutil', '-N', '-d', 'sql:' + nssdb, '--empty-password'],
              env, 'certutil -N')
        b.register_module(nssdb, env)

        def browser_cmd(url):
            return ['chromium', '--no-sandbox', '--disable-gpu',
                    '--disable-quic', '--no-first-run',
                    '--no-default-browser-check',
                    '--disable-background-networking',
                    '--disable-component-update', '--disable-sync',
                    '--password-store=basic', '--disable-dev-shm-usage',
                    '--user-data-dir=' + user_data, '--window-size=1000,800',
                    url]

        b.client_auth_session(
            r, card, work, 'chromium', nssdb, env, browser_cmd,
            PIN_DIALOG, prepare=lambda urls: write_preferences(
                os.path.join(user_data, 'Default'), urls, card.cn))


rig.main(test)
