"""What the client-program tests (GnuTLS, OpenSSH, p11-kit) share: one
virtual card in a rig (tests/integration/rig.py), the profile named on the
command line (../clients-nss-openssl/card_profiles.py: `piv`, the demo PIV
card, or `epass2003`, Feitian's vendor layout), free loopback ports, background servers that are always
stopped, and the card's certificates checked against the demo CA that
kyso-vcard wrote (the check that does not trust kyso).

Each test is a script run with /usr/bin/python3. Client programs that
load kyso get the rig's environment (`r.env`: the private pcscd and, in
sanitizer builds, the ASan runtime in LD_PRELOAD); servers that do not
load kyso get `server_env()`, without the preload.
"""

import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration', 'piv'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'clients-nss-openssl'))

import piv_helpers as h  # noqa: E402
import rig  # noqa: E402
import card_profiles as cp  # noqa: E402

check = rig.check
fail = rig.fail
log = rig.log


def sanitizer_build():
    return bool(os.environ.get('KYSO_PRELOAD'))


def server_env(env):
    return rig.without_preload(env)


free_port = rig.free_tcp_port


def port_open(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """A background server whose output goes to a log file; stopped (and
    its log kept for the failure message) when the `with` block ends.
    Ready once it accepts connections on 127.0.0.1:`port`, or, for a
    server on a Unix socket (port None), once `socket_path` exists."""

    def __init__(self, cmd, env, log_path, port, what, timeout=10.0,
                 socket_path=None):
        self.cmd = [str(c) for c in cmd]
        self.env = env
        self.log_path = log_path
        self.port = port
        self.socket_path = socket_path
        self.what = what
        self.timeout = timeout
        self.proc = None
        self._log = None

    def __enter__(self):
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(rig._die_with_parent(self.cmd),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail('%s exited with status %s before listening:\n%s'
                     % (self.what, self.proc.returncode, self.text()))
            if (os.path.exists(self.socket_path) if self.port is None
                    else port_open(self.port)):
                return self
            time.sleep(0.05)
        fail('%s did not listen on %s within %s s:\n%s'
             % (self.what, self.socket_path if self.port is None else
                '127.0.0.1:%d' % self.port, self.timeout, self.text()))
        return self

    def __exit__(self, *exc):
        rig._stop_process(self.proc)
        if self._log is not None:
            self._log.close()
        return False

    def text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return '(no log)'

    def wait_for(self, needle, timeout=5.0):
        """The server's log, once it holds `needle` (it may write the
        line a moment after the client is done)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


def card_certs(r, work):
    """Start the card of the profile named on the command line in reader 0
    and read its certificates, each verified against the demo CA (with
    OpenSC's own module where OpenSC reads the card, so the expected
    values do not come from the code under test: see card_profiles).
    Returns (card_profiles.Card, {hex CKA_ID: certificate PEM path}, [hex
    CKA_ID of each key, the signing key first])."""
    card = cp.start(r, work, cp.profile_name())
    certs = {card.ids[label]: card.certs[label] for label in card.cert_labels}
    ids = [card.key_id] + sorted(i for i in certs if i != card.key_id)
    return card, certs, ids


def cert_subject(env, pem):
    """The subject as OpenSSL prints it (`O = kyso, CN = kyso demo 9A`)."""
    out = h.openssl(env, 'x509', '-in', pem, '-noout', '-subject').stdout
    return out.strip().split('=', 1)[1].strip()


def cert_pubkey_pem(env, pem):
    return h.openssl(env, 'x509', '-in', pem, '-noout', '-pubkey').stdout
