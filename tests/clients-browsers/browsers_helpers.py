"""What the browser tests of issue 6 share (suite 'clients').

Each test drives a real browser (Debian's chromium, firefox-esr) with
kyso registered in its NSS database, against one virtual card, the
profile named on the command line (../clients-nss-openssl/
card_profiles.py: `piv`, the demo PIV card and its 9A key, or
`epass2003`, Feitian's vendor layout and the key of "NGUYỄN VĂN AN"), in
a private pcscd (rig.py), to HTTPS servers on 127.0.0.1 that require a client certificate issued by
the demo CA (client_auth_server.py). The browser runs headful on a
private Xvfb (display number chosen by Xvfb: -displayfd); xdotool types
the PIN into the browser's own PIN dialog.

The proof never comes from the browser or from kyso: it is the server's
log line `client certificate: subject="O = kyso, CN = kyso demo 9A"
sha256=... protocol=TLSv1.3`, printed only after OpenSSL verified the
chain to the demo CA and the CertificateVerify signature made on the
card, and the certificate's SHA-256 must be the one card_profiles read
off the card (PIV: with OpenSC's own module) and verified against the
demo CA.

Every process started here (Xvfb, servers, browsers) is stopped on every
path: `with` blocks, and the parent-death signal (rig._die_with_parent)
when the test itself is killed.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration', 'piv'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'clients-nss-openssl'))

import piv_helpers as h  # noqa: E402  (tests/integration/piv)
import rig  # noqa: E402  (tests/integration/rig.py)
import card_profiles as cp  # noqa: E402,F401  (the tests use b.cp)

check = rig.check
fail = rig.fail
log = rig.log

MODULE = h.MODULE
SERVER = os.path.join(HERE, 'client_auth_server.py')


def sanitizer_build():
    return bool(os.environ.get('KYSO_PRELOAD'))


def need_programs(*progs):
    for p in progs:
        if shutil.which(p) is None:
            rig.skip('%s is not installed' % p)


def server_env(r):
    """Servers and Xvfb do not load kyso: no sanitizer runtime, no pcscd."""
    env = rig.without_preload(r.env)
    env.pop('PCSCLITE_CSOCK_NAME', None)
    return env


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode(errors='replace')
    except OSError:
        return ''


def wait_until(pred, timeout, step=0.1):
    """pred()'s first true value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


class Proc(rig.Stoppable):
    """A background process whose output goes to a log file, stopped
    (SIGTERM, then SIGKILL) when the `with` block ends. With `group`, it
    leads its own process group and the whole group is stopped: browsers
    fork helpers that must not outlive the test."""

    def __init__(self, cmd, env, log_path, group=False, what=None, **kw):
        self.cmd = [str(c) for c in cmd]
        self.what = what or os.path.basename(self.cmd[0])
        self.log_path = log_path
        self.group = group
        self._log = open(log_path, 'ab')
        self.proc = subprocess.Popen(rig._die_with_parent(self.cmd), env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=group, **kw)

    def text(self):
        return read_text(self.log_path)

    def running(self):
        return self.proc.poll() is None

    def stop(self, grace=5.0):
        p = self.proc
        if p is None:
            return
        if self.group:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
                # The leader is gone; give its helpers a moment, then
                # make sure none is left in the group.
                time.sleep(0.2)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
        else:
            rig._stop_process(p, grace=grace)
        self.proc = None
        self._log.close()


class Xvfb(rig.Stoppable):
    """A private X server: Xvfb picks a free display and writes its number
    to a pipe (-displayfd); no fixed display number, no lock clash with
    another test. Clients get DISPLAY and an XAUTHORITY file of their own
    (the server runs with -auth)."""

    def __init__(self, work, env):
        need_programs('Xvfb', 'xauth')
        self.work = work
        self.xauth = os.path.join(work, 'Xauthority')
        cookie = os.urandom(16).hex()
        # Xvfb loads every cookie in its -auth file at start-up, whatever
        # display the entry names; the display is not known yet, so the
        # entry for the clients is added once it is.
        rig.run(['xauth', '-f', self.xauth, 'add', ':0', '.', cookie],
                env=env, check_rc=True)
        rfd, wfd = os.pipe()
        try:
            self.proc = Proc(['Xvfb', '-displayfd', str(wfd), '-auth',
                              self.xauth, '-screen', '0', '1280x1024x24',
                              '-nolisten', 'tcp', '-noreset'],
                             env, os.path.join(work, 'xvfb.log'),
                             pass_fds=(wfd,), what='Xvfb')
            os.close(wfd)
            wfd = -1
            number = b''
            deadline = time.monotonic() + 15
            while not number.endswith(b'\n'):
                left = deadline - time.monotonic()
                if left <= 0 or not self.proc.running():
                    break
                ready, _, _ = select.select([rfd], [], [], left)
                if not ready:
                    break
                chunk = os.read(rfd, 16)
                if not chunk:
                    break
                number += chunk
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        if not number.strip().isdigit():
            self.proc.stop()
            fail('Xvfb gave no display number within 15 s:\n%s'
                 % self.proc.text())
        self.display = ':%d' % int(number)
        rig.run(['xauth', '-f', self.xauth, 'add', self.display, '.',
                 cookie], env=env, check_rc=True)

    def client_env(self, env):
        e = dict(env)
        e['DISPLAY'] = self.display
        e['XAUTHORITY'] = self.xauth
        return e

    def stop(self):
        self.proc.stop()


def xdotool(env, *args, timeout=15):
    return rig.run(['xdotool'] + [str(a) for a in args], env=env,
                   timeout=timeout)


def window_titles(env):
    res = xdotool(env, 'search', '--name', '.')
    titles = []
    for wid in res.stdout.split():
        t = xdotool(env, 'getwindowname', wid).stdout.strip()
        if t:
            titles.append(t)
    return titles


def type_pin(env, title_regex, pin, what, timeout=30, still_running=None):
    """Wait for the browser's PIN dialog (a window whose title matches),
    focus it and type the PIN and Return into it, as a user does. The
    dialog must then go away (the PIN was taken)."""
    def look():
        if still_running is not None and not still_running():
            fail('%s exited before its PIN dialog appeared' % what)
        res = xdotool(env, 'search', '--onlyvisible', '--name', title_regex)
        ids = res.stdout.split()
        return ids if res.returncode == 0 and ids else None
    ids = wait_until(look, timeout, step=0.2)
    check(ids, '%s: no window titled /%s/ within %s s (windows: %s)'
          % (what, title_regex, timeout, window_titles(env)))
    wid = ids[-1]
    log('%s: PIN dialog "%s" (window %s)'
        % (what, xdotool(env, 'getwindowname', wid).stdout.strip(), wid))
    # No window manager on Xvfb: give the dialog the input focus directly.
    xdotool(env, 'windowfocus', '--sync', wid)
    time.sleep(0.3)
    xdotool(env, 'type', '--delay', '30', pin)
    xdotool(env, 'key', 'Return')
    gone = wait_until(lambda: xdotool(env, 'search', '--onlyvisible',
                                      '--name', title_regex).returncode != 0,
                      10, step=0.2)
    check(gone, '%s: the PIN dialog is still open after typing the PIN'
          % what)
    log('%s: typed the PIN into the dialog, it closed' % what)


def navigate(env, pid, url, what):
    """Open `url` in the browser whose process is `pid` as a user does:
    focus its window, Ctrl+L, type the address, Return."""
    def look():
        res = xdotool(env, 'search', '--onlyvisible', '--pid', pid)
        ids = res.stdout.split()
        return ids if res.returncode == 0 and ids else None
    ids = wait_until(look, 10, step=0.2)
    check(ids, '%s: no visible window of process %d (windows: %s)'
          % (what, pid, window_titles(env)))
    xdotool(env, 'windowfocus', '--sync', ids[-1])
    time.sleep(0.3)
    xdotool(env, 'key', '--clearmodifiers', 'ctrl+l')
    time.sleep(0.5)
    xdotool(env, 'type', '--delay', '20', url)
    xdotool(env, 'key', 'Return')
    log('%s: typed %s into the address bar' % (what, url))


class AuthServer(rig.Stoppable):
    """client_auth_server.py in the background (see its docstring)."""

    LINE = re.compile(r'^client certificate: subject="(.*)" sha256=([0-9a-f]+)'
                      r' protocol=(\S+)$', re.M)

    def __init__(self, env, work, name, ca, cert, key, tls='1.3',
                 next_url=None):
        cmd = [sys.executable, SERVER, '--ca', ca, '--cert', cert,
               '--key', key, '--tls', tls]
        if next_url:
            cmd += ['--next', next_url]
        self.name = name
        self.proc = Proc(cmd, env, os.path.join(work, '%s.log' % name),
                         what='server %s' % name)
        m = wait_until(lambda: (not self.proc.running() and 'exit') or
                       re.search(r'^listening on (\d+)$', self.proc.text(),
                                 re.M), 15)
        if not m or m == 'exit':
            text = self.proc.text()
            self.proc.stop()
            fail('server %s did not start:\n%s' % (name, text))
        self.port = int(m.group(1))
        self.url = 'https://127.0.0.1:%d/' % self.port

    def text(self):
        return self.proc.text()

    def accepted(self):
        """(subject, sha256, protocol) of every client certificate the
        server verified so far."""
        return self.LINE.findall(self.text())

    def wait_accepted(self, timeout, still_running=None):
        def look():
            if still_running is not None and not still_running():
                return 'exited'
            return self.accepted()
        return wait_until(look, timeout, step=0.2)

    def failures(self):
        return re.findall(r'^handshake failed: (.*)$', self.text(), re.M)

    def stop(self):
        self.proc.stop()


def server_cert(work, env):
    """The test servers' own certificate for 127.0.0.1, issued by a
    throw-away "kyso test server CA" (browsers refuse a self-signed
    server certificate even when trusted): (CA PEM, cert PEM, key PEM).
    The browser's NSS database trusts that CA for servers only."""
    ca_key = os.path.join(work, 'server-ca.key')
    ca = os.path.join(work, 'server-ca.pem')
    h.run_ok(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
              '-keyout', ca_key, '-out', ca, '-days', '2', '-subj',
              '/CN=kyso test server CA',
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
             env, 'making the server CA')
    key = os.path.join(work, 'server.key')
    csr = os.path.join(work, 'server.csr')
    cert = os.path.join(work, 'server.pem')
    ext = h.write(os.path.join(work, 'server.ext'),
                  'subjectAltName=IP:127.0.0.1\n'
                  'basicConstraints=critical,CA:FALSE\n'
                  'keyUsage=critical,digitalSignature,keyEncipherment\n'
                  'extendedKeyUsage=serverAuth\n')
    h.run_ok(['openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes',
              '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1'],
             env, 'making the server key')
    h.run_ok(['openssl', 'x509', '-req', '-in', csr, '-CA', ca, '-CAkey',
              ca_key, '-CAcreateserial', '-out', cert, '-days', '2',
              '-extfile', ext], env, 'issuing the server certificate')
    return ca, cert, key


def trust_server_ca(dbdir, env, ca):
    """The NSS database trusts the test server CA, for TLS servers only
    (certutil -t C,,), as a company's users import their intranet CA."""
    nss(['certutil', '-A', '-d', 'sql:' + dbdir, '-n', 'kyso test server CA',
         '-t', 'C,,', '-i', ca], env, 'certutil -A (the test server CA)')


def tls12_conf(work):
    """An OpenSSL configuration for the TLS 1.2 server: its
    CertificateRequest offers only RSA PKCS#1 v1.5 with SHA-256, so the
    browser must sign with CKM_RSA_PKCS (TLS 1.3 allows only PSS)."""
    return h.write(os.path.join(work, 'openssl-tls12.cnf'),
                   'openssl_conf = conf\n'
                   '[conf]\nssl_conf = ssl\n'
                   '[ssl]\nsystem_default = tls\n'
                   '[tls]\nClientSignatureAlgorithms = RSA+SHA256\n')


def nss(cmd, env, what, timeout=60):
    """An NSS tool with no terminal (setsid) and empty stdin: a prompt
    fails at once instead of hanging."""
    return h.run_ok(['setsid', '-w'] + cmd, env, what, input='',
                    timeout=timeout)


def register_module(dbdir, env, name='kyso'):
    """Register kyso in the NSS database `dbdir` the way the user guides
    say (docs/guides/chromium.md, firefox.md): modutil -add, then check
    modutil -list names the card's token. Returns the token label."""
    db = 'sql:' + dbdir
    # -mechanisms FRIENDLY: the token's certificates are public, so the
    # browser lists them without the PIN and asks for it when it signs
    # (what `kyso browser register` writes too).
    nss(['modutil', '-dbdir', db, '-add', name, '-libfile', MODULE,
         '-force', '-mechanisms', 'FRIENDLY'], env, 'modutil -add %s' % name)
    res = nss(['modutil', '-dbdir', db, '-list'], env, 'modutil -list')
    # The module's entry: "N. name", "library name: MODULE", its slots
    # and their tokens; up to the next entry.
    m = re.search(r'^\s*\d+\. %s\n(.*?)(?=^\s*\d+\. |\Z)' % re.escape(name),
                  res.stdout, re.M | re.S)
    entry = m.group(1) if m else ''
    check('library name: %s' % MODULE in entry,
          'modutil -list does not show kyso (%s):\n%s' % (MODULE, res.stdout))
    m = re.search(r'^\s*token:\s*(.+?)\s*$', entry, re.M)
    check(m, 'modutil -list shows no token in kyso\'s slots:\n%s'
          % res.stdout)
    log('modutil: kyso registered in %s, token "%s"' % (db, m.group(1)))
    return m.group(1)


def check_accepted(server, subject, sha256, protocol, what):
    """The exact check: the server's log line names the card's
    certificate (subject and SHA-256, as OpenSC read it) and the
    protocol. Returns the line."""
    got = server.accepted()
    check(got, '%s: the server verified no client certificate:\n%s'
          % (what, server.text()))
    want = (subject, sha256, protocol)
    check(want in got, '%s: the server verified %s, expected subject "%s" '
          'sha256 %s %s:\n%s' % (what, got, subject, sha256, protocol,
                                 server.text()))
    line = next(l for l in server.text().splitlines()
                if l.startswith('client certificate:') and sha256 in l and
                protocol in l)
    log('%s: server log: %s' % (what, line))
    return line


def client_auth_session(r, card, work, what, dbdir, env, browser_cmd,
                        pin_dialog, prepare=None):
    """The scenario both browser tests run, in one browser session:

    1. The browser (`browser_cmd(first_url)`, with `env` plus the Xvfb
       display) opens P1 (TLS 1.3 only). Its own PIN dialog (a window
       titled /`pin_dialog`/) appears; xdotool types the PIN. Check: P1's
       log line names the card's signing certificate, protocol=TLSv1.3 (TLS
       1.3 with an RSA key: the browser signs with RSA-PSS through kyso).
    2. P1's page sends the browser on to P2 (TLS 1.2 only, and the
       CertificateRequest offers only rsa_pkcs1_sha256: CKM_RSA_PKCS).
       Check: the same line, protocol=TLSv1.2.
    3. Negative: the card is pulled out and the address of P3 (TLS 1.3)
       typed into the address bar. Check: P3 sees a handshake and
       verifies no client certificate, so what P1 and P2 verified came
       from the card.

    `card` is a card_profiles.Card. `dbdir` is the browser's NSS database
    (kyso registered in it); it is
    made to trust the test servers' CA. `prepare(urls)` runs before the
    browser starts (profile settings that name the servers)."""
    senv = server_env(r)
    ca = card.ca
    subject, sha = card.subject, card.sha256
    log('the card\'s certificate "%s" (CA-verified): subject "%s" '
        'sha256 %s' % (card.cert_label, subject, sha))
    server_ca, cert, key = server_cert(work, senv)
    trust_server_ca(dbdir, env, server_ca)
    tls12 = dict(senv)
    tls12['OPENSSL_CONF'] = tls12_conf(work)
    with AuthServer(senv, work, 'p3-tls13-card-removed', ca, cert,
                    key) as s3, \
            AuthServer(tls12, work, 'p2-tls12', ca, cert, key,
                       tls='1.2') as s2, \
            AuthServer(senv, work, 'p1-tls13', ca, cert, key,
                       next_url=s2.url) as s1, \
            Xvfb(work, senv) as x:
        if prepare is not None:
            prepare([s1.url, s2.url, s3.url])
        benv = x.client_env(env)
        # The browsers' temporary files (Chromium leaves folders behind)
        # go into the test's folder, removed at exit.
        benv['TMPDIR'] = os.path.join(work, 'tmp')
        os.makedirs(benv['TMPDIR'], exist_ok=True)
        with Proc(browser_cmd(s1.url), benv,
                  os.path.join(work, '%s.log' % what), group=True,
                  what=what) as browser:
            def tail():
                return '\n'.join(l for l in browser.text().splitlines()
                                 if 'dbus' not in l.lower())[-3000:]

            type_pin(benv, pin_dialog, card.pin, what, timeout=40,
                     still_running=browser.running)
            for srv, proto in ((s1, 'TLSv1.3'), (s2, 'TLSv1.2')):
                got = srv.wait_accepted(30, browser.running)
                check(got and got != 'exited', '%s: no client certificate '
                      'verified at %s (%s):\n%s\n--- %s\n%s'
                      % (what, srv.url, proto, srv.text(), what, tail()))
                check_accepted(srv, subject, sha, proto,
                               '%s %s' % (what, proto))

            card.card.stop()
            log('%s: card removed' % what)
            navigate(benv, browser.proc.pid, s3.url, what)
            seen = wait_until(lambda: s3.failures() or s3.accepted(), 30)
            check(seen, '%s: no TLS handshake at %s after the card was '
                  'removed:\n%s\n--- %s\n%s'
                  % (what, s3.url, s3.text(), what, tail()))
            # A browser may retry a failed handshake: give it the time.
            time.sleep(2)
            check(not s3.accepted(), '%s sent a client certificate with '
                  'the card removed:\n%s' % (what, s3.text()))
            log('%s without the card: server log "handshake failed: %s", '
                'no client certificate' % (what, s3.failures()[0]))
