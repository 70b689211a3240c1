#!/usr/bin/python3
"""Issue 6: Chromium (Debian's chromium) authenticates to HTTPS servers
with the demo PIV card's 9A key and certificate through kyso.

Set-up, as docs/guides/chromium.md tells a resident: a scratch HOME whose
NSS database ($HOME/.pki/nssdb, made with `certutil -N`) has kyso
registered with `modutil -add kyso -libfile MODULE -mechanisms
FRIENDLY`, and the test servers' CA trusted in it (`certutil -A -t C,,`).
Chromium runs headful on a private Xvfb. The certificate chooser is skipped the way the
AutoSelectCertificateForUrls policy does it, but per profile: the content
setting auto_select_certificate (filter SUBJECT CN = kyso demo 9A) in the
fresh profile's Preferences, so no file is written under /etc.

The scenario (browsers_helpers.client_auth_session):
1. https://127.0.0.1:P1/ (TLS 1.3 only, client certificate required):
   Chromium's real "Unlock Security Device" dialog asks for the PIN and
   xdotool types it. Check: P1's log line
   `client certificate: subject="O = kyso, CN = kyso demo 9A"
   sha256=<the 9A certificate as OpenSC's module reads it> protocol=TLSv1.3`
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
from browsers_helpers import AUTH_CN, h, rig

PIN_DIALOG = '^Unlock Security Device'


def write_preferences(profile_dir, urls):
    """The fresh profile's Preferences: the AUTO_SELECT_CERTIFICATE
    content setting for each URL's origin, with the filter the
    AutoSelectCertificateForUrls policy takes ({"SUBJECT": {"CN": ...}}),
    so Chromium picks the 9A certificate without showing its chooser."""
    exceptions = {}
    for u in urls:
        exceptions['%s,*' % u.rstrip('/')] = {
            'last_modified': '13300000000000000',
            'setting': {'filters': [{'SUBJECT': {'CN': AUTH_CN}}]},
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
    work = h.workdir('chromium')
    home = os.path.join(work, 'home')
    nssdb = os.path.join(home, '.pki', 'nssdb')
    user_data = os.path.join(work, 'chromium-profile')
    os.makedirs(nssdb)
    with rig.Rig(readers=2) as r:
        card, _, ca = h.start_demo_card(r, work)
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
            r, card, ca, work, 'chromium', nssdb, env, browser_cmd,
            PIN_DIALOG, prepare=lambda urls: write_preferences(
                os.path.join(user_data, 'Default'), urls))


rig.main(test)
