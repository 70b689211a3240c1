"""What the client-program tests (GnuTLS, OpenSSH, p11-kit) share: the
demo PIV card in a rig (tests/integration/rig.py, through the PIV
helpers), free loopback ports, background servers that are always
stopped, and the certificates of the demo card checked against the demo
CA that kyso-vcard wrote (the check that does not trust kyso).

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

import piv_helpers as h  # noqa: E402
import rig  # noqa: E402

check = rig.check
fail = rig.fail
log = rig.log
PIN = h.PIN
# The four keys of the demo card: CKA_ID, what the key is, its SSH type.
DEMO_IDS = [(k['id'], k) for k in h.DEMO_KEYS]


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


def demo_certs(r, work, env=None):
    """Start the demo PIV card in reader 0 and read its four certificates
    with OpenSC's pkcs11-tool and OpenSC's own module, not kyso's, so the
    expected values do not come from the code under test; each must verify
    against the demo CA. Returns (card, CA PEM path, {id: cert PEM path})."""
    env = env or r.env
    card, _, ca = h.start_demo_card(r, work)
    oenv = h.opensc_env(r, work)
    certs = {}
    for key_id, _ in DEMO_IDS:
        der = os.path.join(work, 'opensc-cert-%02x.der' % key_id)
        h.tool(oenv, '--read-object', '--type', 'cert', '--id',
               '%02x' % key_id, '-o', der, module=h.OPENSC_MODULE,
               what='OpenSC reading certificate %02X' % key_id)
        pem = os.path.join(work, 'cert-%02x.pem' % key_id)
        h.openssl(env, 'x509', '-inform', 'DER', '-in', der, '-out', pem)
        res = rig.run(['openssl', 'verify', '-CAfile', ca, pem], env=env)
        check(res.returncode == 0 and ': OK' in res.stdout,
              'certificate %02X (read by OpenSC) does not verify against the '
              'demo CA:\n%s' % (key_id, res.describe()))
        certs[key_id] = pem
    return card, ca, certs


def cert_subject(env, pem):
    """The subject as OpenSSL prints it (`O = kyso, CN = kyso demo 9A`)."""
    out = h.openssl(env, 'x509', '-in', pem, '-noout', '-subject').stdout
    return out.strip().split('=', 1)[1].strip()


def cert_pubkey_pem(env, pem):
    return h.openssl(env, 'x509', '-in', pem, '-noout', '-pubkey').stdout
