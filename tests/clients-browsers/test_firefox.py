#!/usr/bin/python3
"""Issue 6: Firefox ESR (Debian's firefox-esr) authenticates to HTTPS
servers with a card's signing key and certificate through kyso. The card
is the profile named on the command line (../clients-nss-openssl/
card_profiles.py): `piv` (the demo PIV card's 9A key) or `epass2003`
(Feitian's vendor layout, the key of "NGUYỄN VĂN AN").

Set-up, as docs/guides/firefox.md tells a resident: a fresh profile whose
NSS database (cert9.db, key4.db, pkcs11.txt, made with `certutil -N`) has
kyso registered with `modutil -add kyso -libfile MODULE -mechanisms
FRIENDLY`, the test servers' CA trusted in it (`certutil -A -t C,,`),
and user.js `security.default_personal_cert = "Select Automatically"`
(no certificate chooser). Firefox runs headful on a private Xvfb, in a
scratch HOME. All four demo PIV certificates allow clientAuth and come
from the demo CA; "Select Automatically" takes the first one NSS finds,
which with this card is 9A's (in every run so far). Should that change,
the check says which certificate the server got instead. On the
ePass2003 only the signing certificate allows clientAuth (the other is
for encryption: keyEncipherment, emailProtection), so NSS offers that
one.

The scenario (browsers_helpers.client_auth_session):
1. https://127.0.0.1:P1/ (TLS 1.3 only, client certificate required):
   Firefox's real "Password Required" dialog asks for the token's PIN
   and xdotool types it. Check: P1's log line
   `client certificate: subject="O = kyso, CN = kyso demo 9A"
   sha256=<the card's certificate, CA-verified> protocol=TLSv1.3`
   (NSS signs with multi-part CKM_SHA256_RSA_PKCS_PSS or CKM_RSA_PKCS_PSS).
2. P1's page leads on to P2 (TLS 1.2 only, rsa_pkcs1_sha256 only:
   CKM_RSA_PKCS). Check: the same line with protocol=TLSv1.2.
3. Negative: the card is pulled out and P3's address typed into the
   address bar. Check: P3 sees a handshake and verifies no certificate.
Sanitizer builds skip this test (under the ASan preload firefox-esr
dies with SIGSEGV at start-up); the plain build runs it.
"""

import os

import browsers_helpers as b
from browsers_helpers import cp, h, rig

PIN_DIALOG = '^Password Required'

# A quiet fresh profile: no first-run pages, no background traffic.
USER_JS = '''\
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("app.update.checkInstallTime", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("network.http.http3.enable", false);
'''


def test():
    b.need_programs('firefox-esr', 'xdotool', 'Xvfb', 'xauth', 'modutil',
                    'certutil')
    if b.sanitizer_build():
        rig.skip('firefox-esr crashes at start-up under the ASan preload; '
                 'the plain build runs this test')
    rig.require_module()
    card_name = cp.profile_name()
    work = h.workdir('firefox-%s' % card_name)
    home = os.path.join(work, 'home')
    profile = os.path.join(work, 'profile')
    os.makedirs(home)
    os.makedirs(profile)
    with rig.Rig(readers=2) as r:
        card = cp.start(r, work, card_name)
        env = dict(r.env)
        env['HOME'] = home
        env['MOZ_CRASHREPORTER_DISABLE'] = '1'
        b.nss(['certutil', '-N', '-d', 'sql:' + profile, '--empty-password'],
              env, 'certutil -N')
        b.register_module(profile, env)
        h.write(os.path.join(profile, 'user.js'), USER_JS)

        def browser_cmd(url):
            return ['firefox-esr', '--no-remote', '--new-instance',
                    '--profile', profile, url]

        b.client_auth_session(r, card, work, 'firefox', profile, env,
                              browser_cmd, PIN_DIALOG)


rig.main(test)
