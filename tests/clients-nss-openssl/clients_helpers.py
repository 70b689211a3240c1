"""What the client-program tests of issue 6 share (suite 'clients').

Each test runs a real program (NSS's tools, OpenSSL with libp11's engine,
a C program linking libp11) against one virtual card (a profile of
card_profiles.py, named on the command line: the demo PIV card or the
ePass2003 with Feitian's vendor layout) in a private pcscd (rig.py), and
checks the result with a program that does not load kyso: OpenSSL
verifying a signature or a CMS message, or an `openssl s_server` that
requires and verifies a client certificate and prints it back.

Every client gets the rig's environment (`r.env`): the rig's pcscd and,
in sanitizer builds, the ASan runtime in LD_PRELOAD. Servers get neither
(`server_env`): they never load the module.
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration', 'piv'))

import piv_helpers as h  # noqa: E402  (tests/integration/piv)
from piv_helpers import check, fail, log, rig  # noqa: E402,F401
import card_profiles as cp  # noqa: E402,F401

MODULE = h.MODULE
# PIV only: 9A, PIV Authentication: RSA-2048, PIN once per session, its certificate
# has clientAuth and emailProtection (tests/vcard/piv/piv_provision.c).
AUTH_ID = 0x01
AUTH_LABEL = 'Certificate for PIV Authentication'
AUTH_CN = 'kyso demo 9A'
# 9E, Card Authentication: EC P-384, no PIN (SP 800-73-4 pt 1, 3.1.4).
CARD_AUTH_ID = 0x04
CARD_AUTH_LABEL = 'Certificate for Card Authentication'
CARD_AUTH_CN = 'kyso demo 9E'

# The request the TLS clients send; s_server -www answers it with a page
# that shows the session and the client certificate it verified.
HTTP_REQUEST = 'GET / HTTP/1.0\r\n\r\n'


def server_env(r):
    """The environment of a server: no sanitizer runtime (it does not
    load kyso), no private pcscd."""
    env = rig.without_preload(r.env)
    env.pop('PCSCLITE_CSOCK_NAME', None)
    return env


def server_cert(work, env):
    """A self-signed certificate for 127.0.0.1 (the test's TLS server),
    made by OpenSSL: (cert.pem, key.pem)."""
    key = os.path.join(work, 'server.key')
    cert = os.path.join(work, 'server.pem')
    h.run_ok(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
              '-keyout', key, '-out', cert, '-days', '2', '-subj',
              '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
              '-addext', 'basicConstraints=critical,CA:FALSE',
              '-addext', 'extendedKeyUsage=serverAuth'],
             env, 'making the server certificate')
    return cert, key


class TlsServer(rig.Stoppable):
    """`openssl s_server -www` on 127.0.0.1 that requires a client
    certificate issued by `ca` (-Verify 1 -verify_return_error): a
    handshake without one, or with one whose CertificateVerify signature
    does not check, fails. Its page shows the protocol and the client
    certificate (subject and PEM)."""

    def __init__(self, r, work, ca, cert, key, name='server'):
        self.env = server_env(r)
        self.log_path = os.path.join(work, '%s.log' % name)
        self.proc = None
        last = None
        for _ in range(3):
            self.port = rig.free_tcp_port()
            self._log = open(self.log_path, 'w')
            cmd = ['openssl', 's_server', '-accept',
                   '127.0.0.1:%d' % self.port, '-www', '-Verify', '1',
                   '-verify_return_error', '-CAfile', ca, '-cert', cert,
                   '-key', key]
            self.proc = subprocess.Popen(rig._die_with_parent(cmd),
                                         stdin=subprocess.DEVNULL,
                                         stdout=self._log,
                                         stderr=subprocess.STDOUT,
                                         env=self.env)
            last = self._wait_accept()
            if last is None:
                return
            self.stop()
        fail('openssl s_server did not start: %s' % last)

    def _wait_accept(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return 'exited %s:\n%s' % (self.proc.returncode, self.log())
            if 'ACCEPT' in self.log():
                return None
            time.sleep(0.05)
        return 'no ACCEPT within %s s:\n%s' % (timeout, self.log())

    def log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def stop(self):
        rig._stop_process(self.proc)
        self._log.close()


def check_client_auth_page(page, ca, cn, protocol, work, what, env):
    """The exact check that proves TLS client authentication with the
    card: s_server's page (what the client received) says the session
    used `protocol`, shows 'Client certificate' and a subject, and
    the PEM it printed verifies against the demo CA with `openssl
    verify` and has subject CN `cn` (so it is the card's certificate,
    and s_server accepted the card's CertificateVerify signature, or there would be no page).
    Only what follows the server's HTTP status line counts: s_client
    prints its own session and the server's certificate before it."""
    start = page.find('HTTP/1.0 200 ok')
    check(start >= 0, '%s: no page from s_server (no "HTTP/1.0 200 ok"):\n%s'
          % (what, page))
    page = page[start:]
    check(re.search(r'^\s*Protocol\s*:\s*%s\s*$' % re.escape(protocol), page,
                    re.M),
          '%s: the server page shows no "Protocol : %s":\n%s'
          % (what, protocol, page))
    check('Client certificate' in page and
          'no client certificate available' not in page,
          '%s: the server saw no client certificate:\n%s' % (what, page))
    check(re.search(r'^\s*Subject:', page, re.M),
          '%s: the server page shows no client certificate subject:\n%s'
          % (what, page))
    pem = re.search(r'-----BEGIN CERTIFICATE-----.*?'
                    r'-----END CERTIFICATE-----', page, re.S)
    check(pem, '%s: no PEM client certificate on the page:\n%s'
          % (what, page))
    path = h.write(os.path.join(work, 'peer-%s.pem'
                                % re.sub(r'\W+', '_', what)), pem.group(0))
    res = rig.run(['openssl', 'verify', '-CAfile', ca, path], env=env)
    check(res.returncode == 0 and ': OK' in res.stdout,
          '%s: the client certificate the server printed does not verify '
          'against the demo CA:\n%s' % (what, res.describe()))
    got = cp.cert_cn(env, path)
    check(got == cn, '%s: the client certificate subject is CN = %s, '
          'expected CN = %s:\n%s' % (what, got, cn, page))
    log('%s: s_server verified the client certificate CN = %s (%s)'
        % (what, got, protocol))
