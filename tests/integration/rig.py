"""The virtual-card rig: a private pcscd with vpcd readers, and kyso-vcard
cards in them.

Run the tests with Debian's /usr/bin/python3 (PyKCS11 lives there). Only the
standard library is used here.

    with rig.Rig(readers=2) as r:
        card = r.start_card(0, 'unknown')
        res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '-L'], env=r.env)
        print(card.apdu_count())

Everything the rig starts (pcscd, the cards) is stopped when the `with`
block ends, at interpreter exit, on SIGTERM/SIGINT, and (through the
parent-death signal) when the test process dies without cleaning up.

The pcscd recipe is the one in the lab notes: pcscd 1.9.9 always listens
on /run/pcscd/pcscd.comm, so it runs in its own mount namespace with a
private directory bind-mounted there; clients find it through
PCSCLITE_CSOCK_NAME. Each reader.conf entry gives two vpcd readers, on
CHANNELID and CHANNELID+1; every entry after the first loads its own copy of
libifdvpcd.so, because vpcd keeps its sockets in a static array per loaded
library and a second entry from the same .so breaks the first.

Environment:
    KYSO_BUILD_DIR   the meson build directory (default: <repo>/build)
    KYSO_TEST_MODULE the PKCS#11 module under test (default: the build's
                     module/kyso-pkcs11.so)
    KYSO_PRELOAD     sanitizer runtimes to LD_PRELOAD into every process
                     that loads the module (set by meson for ASan builds;
                     blank-separated)
    KYSO_RIG_PORT    first vpcd port to use (default: a free random one in
                     36000-46000)
    KYSO_RIG_KEEP=1  keep the rig's temporary directory (logs, config)
    KYSO_RIG_DEBUG=1 run pcscd with -d -a (its log is printed on failure)
"""

import atexit
import ctypes
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def _reexec_with_preload():
    # A module built with ASan can only be loaded into a process whose
    # first library is the ASan runtime: pkcs11-tool, and this Python when
    # it loads the module through PyKCS11 or ctypes. Restart the test with
    # the runtime preloaded; every child inherits it.
    pre = os.environ.get('KYSO_PRELOAD')
    have = os.environ.get('LD_PRELOAD', '').split()
    if not pre or all(p in have for p in pre.split()):
        return
    os.environ['LD_PRELOAD'] = (pre + ' ' + os.environ.get('LD_PRELOAD', '')).strip()
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable] + sys.argv)


_reexec_with_preload()

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('KYSO_SOURCE_DIR',
                            os.path.dirname(os.path.dirname(HERE)))
BUILD_DIR = os.environ.get('KYSO_BUILD_DIR', os.path.join(SOURCE_DIR, 'build'))
VCARD = os.path.join(BUILD_DIR, 'tests', 'vcard', 'kyso-vcard')
# KYSO_TEST_MODULE runs the tests against another module (e.g. OpenSC's,
# to compare); by default, the one just built.
MODULE = os.environ.get('KYSO_TEST_MODULE',
                        os.path.join(BUILD_DIR, 'module', 'kyso-pkcs11.so'))
OPENSC_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so'

VPCD_LIB = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so'
PCSCD = '/usr/sbin/pcscd'
PORT_MIN, PORT_MAX = 36000, 46000
# Ports kept free per rig: room for this many reader.conf entries, so
# that restart_pcscd() can add readers on the same base port.
MAX_ENTRIES = 4

# meson test: exit 77 means "skipped".
EXIT_SKIP = 77


class TestFailure(Exception):
    """A check failed: the message says what went wrong."""


class TestSkip(Exception):
    """The machine cannot run this test (not root, no pcscd...)."""


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def skip(msg):
    raise TestSkip(msg)


def log(msg):
    print(msg, flush=True)


def require_module():
    if not os.path.exists(MODULE):
        fail('%s is not built (KYSO_BUILD_DIR=%s)' % (MODULE, BUILD_DIR))


def main(func):
    """Run a test's main function: exit 0, 1 with the failure, or 77."""
    try:
        func()
    except TestSkip as e:
        print('SKIP: %s' % e, flush=True)
        sys.exit(EXIT_SKIP)
    except TestFailure as e:
        print('FAIL: %s' % e, file=sys.stderr, flush=True)
        sys.exit(1)
    print('PASS', flush=True)
    sys.exit(0)


# ---------------------------------------------------------------- processes

_SETPRIV = shutil.which('setpriv')


def _die_with_parent(cmd):
    """`cmd` wrapped so that it gets SIGTERM when the test process dies,
    however it dies: a test killed by a timeout leaves nothing behind.
    setpriv sets the parent-death signal and execs the command (same pid),
    which a preexec_fn could not do safely once the rig's threads run. The
    signal follows the thread that started the child: start processes
    from the main thread."""
    if _SETPRIV is None:
        return cmd
    return [_SETPRIV, '--pdeathsig', 'TERM', '--'] + cmd


class Result:
    def __init__(self, cmd, returncode, stdout, stderr, elapsed):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    def describe(self):
        return ('`%s` exited %s after %.3f s\n--- stdout\n%s--- stderr\n%s'
                % (' '.join(self.cmd), self.returncode, self.elapsed,
                   self.stdout, self.stderr))


def run(cmd, timeout=30, env=None, input=None, check_rc=False):
    """Run `cmd` (with `env`, e.g. rig.env) and return a Result. A command
    that outlives `timeout` seconds is killed and fails the test."""
    cmd = [str(c) for c in cmd]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, input=input, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        fail('`%s` did not finish within %s s (stdout: %r, stderr: %r)'
             % (' '.join(cmd), timeout, e.stdout, e.stderr))
    res = Result(cmd, p.returncode, p.stdout, p.stderr,
                 time.monotonic() - start)
    if check_rc and res.returncode != 0:
        fail(res.describe())
    return res


def _stop_process(proc, sig=signal.SIGTERM, grace=5.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


# ------------------------------------------------------------ PC/SC (ctypes)

SCARD_S_SUCCESS = 0
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_STATE_EMPTY = 0x10
SCARD_STATE_PRESENT = 0x20
SCARD_STATE_MUTE = 0x200


class _ReaderState(ctypes.Structure):
    # pcsc-lite's SCARD_READERSTATE on Linux (DWORD is unsigned long).
    _fields_ = [('szReader', ctypes.c_char_p),
                ('pvUserData', ctypes.c_void_p),
                ('dwCurrentState', ctypes.c_ulong),
                ('dwEventState', ctypes.c_ulong),
                ('cbAtr', ctypes.c_ulong),
                ('rgbAtr', ctypes.c_ubyte * 33)]


class _IoRequest(ctypes.Structure):
    _fields_ = [('dwProtocol', ctypes.c_ulong),
                ('cbPciLength', ctypes.c_ulong)]


class PcscError(Exception):
    def __init__(self, what, rv):
        super().__init__('%s: 0x%08X' % (what, rv))
        self.rv = rv


class Pcsc:
    """Just enough of the PC/SC API to watch readers and send raw APDUs,
    with no middleware in between. The client library reads
    PCSCLITE_CSOCK_NAME once, at its first call: use it only after the rig
    has set the variable."""

    _lib = None

    def __init__(self):
        if Pcsc._lib is None:
            Pcsc._lib = ctypes.CDLL('libpcsclite.so.1')
            lib = Pcsc._lib
            lib.SCardEstablishContext.argtypes = [
                ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_long)]
            lib.SCardReleaseContext.argtypes = [ctypes.c_long]
            lib.SCardListReaders.argtypes = [
                ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p,
                ctypes.POINTER(ctypes.c_ulong)]
            lib.SCardGetStatusChange.argtypes = [
                ctypes.c_long, ctypes.c_ulong,
                ctypes.POINTER(_ReaderState), ctypes.c_ulong]
            lib.SCardConnect.argtypes = [
                ctypes.c_long, ctypes.c_char_p, ctypes.c_ulong,
                ctypes.c_ulong, ctypes.POINTER(ctypes.c_long),
                ctypes.POINTER(ctypes.c_ulong)]
            lib.SCardDisconnect.argtypes = [ctypes.c_long, ctypes.c_ulong]
            lib.SCardTransmit.argtypes = [
                ctypes.c_long, ctypes.POINTER(_IoRequest), ctypes.c_char_p,
                ctypes.c_ulong, ctypes.c_void_p, ctypes.c_char_p,
                ctypes.POINTER(ctypes.c_ulong)]
            for f in ('SCardEstablishContext', 'SCardReleaseContext',
                      'SCardListReaders', 'SCardGetStatusChange',
                      'SCardConnect', 'SCardDisconnect', 'SCardTransmit'):
                getattr(lib, f).restype = ctypes.c_long
        self.lib = Pcsc._lib

    @staticmethod
    def _rv(rv):
        return rv & 0xFFFFFFFF

    def _context(self):
        ctx = ctypes.c_long()
        rv = self._rv(self.lib.SCardEstablishContext(2, None, None,
                                                     ctypes.byref(ctx)))
        if rv != SCARD_S_SUCCESS:
            raise PcscError('SCardEstablishContext', rv)
        return ctx.value

    def readers(self):
        """The reader names, in pcscd's order; [] when there are none."""
        ctx = self._context()
        try:
            size = ctypes.c_ulong(0)
            rv = self._rv(self.lib.SCardListReaders(ctx, None, None,
                                                    ctypes.byref(size)))
            if rv == SCARD_E_NO_READERS_AVAILABLE:
                return []
            if rv != SCARD_S_SUCCESS:
                raise PcscError('SCardListReaders', rv)
            buf = ctypes.create_string_buffer(size.value)
            rv = self._rv(self.lib.SCardListReaders(ctx, None, buf,
                                                    ctypes.byref(size)))
            if rv == SCARD_E_NO_READERS_AVAILABLE:
                return []
            if rv != SCARD_S_SUCCESS:
                raise PcscError('SCardListReaders', rv)
            return [n.decode() for n in buf.raw[:size.value].split(b'\0') if n]
        finally:
            self.lib.SCardReleaseContext(ctx)

    def state(self, reader):
        """(event state flags, ATR bytes) of one reader, right now."""
        ctx = self._context()
        try:
            st = _ReaderState()
            st.szReader = reader.encode()
            st.dwCurrentState = 0       # SCARD_STATE_UNAWARE: answer at once
            rv = self._rv(self.lib.SCardGetStatusChange(ctx, 0,
                                                        ctypes.byref(st), 1))
            if rv not in (SCARD_S_SUCCESS, SCARD_E_TIMEOUT):
                raise PcscError('SCardGetStatusChange', rv)
            return st.dwEventState, bytes(st.rgbAtr[:st.cbAtr])
        finally:
            self.lib.SCardReleaseContext(ctx)

    def reset(self, reader):
        """Reset the card in `reader` as another middleware does on its
        way out: connect (shared), then disconnect with SCARD_RESET_CARD."""
        ctx = self._context()
        card = ctypes.c_long()
        proto = ctypes.c_ulong()
        try:
            rv = self._rv(self.lib.SCardConnect(ctx, reader.encode(), 2, 3,
                                                ctypes.byref(card),
                                                ctypes.byref(proto)))
            if rv != SCARD_S_SUCCESS:
                raise PcscError('SCardConnect', rv)
            rv = self._rv(self.lib.SCardDisconnect(card, 1))  # SCARD_RESET_CARD
            if rv != SCARD_S_SUCCESS:
                raise PcscError('SCardDisconnect(SCARD_RESET_CARD)', rv)
        finally:
            self.lib.SCardReleaseContext(ctx)

    def transmit(self, reader, apdus):
        """Connect (shared) to the card in `reader`, send each APDU (bytes)
        as is, and return the raw responses (data + SW1 SW2)."""
        ctx = self._context()
        card = ctypes.c_long()
        proto = ctypes.c_ulong()
        out = []
        try:
            rv = self._rv(self.lib.SCardConnect(ctx, reader.encode(), 2, 3,
                                                ctypes.byref(card),
                                                ctypes.byref(proto)))
            if rv != SCARD_S_SUCCESS:
                raise PcscError('SCardConnect', rv)
            try:
                pci = _IoRequest(proto.value, ctypes.sizeof(_IoRequest))
                for apdu in apdus:
                    rbuf = ctypes.create_string_buffer(65538)
                    rlen = ctypes.c_ulong(len(rbuf))
                    rv = self._rv(self.lib.SCardTransmit(
                        card, ctypes.byref(pci), apdu, len(apdu), None,
                        rbuf, ctypes.byref(rlen)))
                    if rv != SCARD_S_SUCCESS:
                        raise PcscError('SCardTransmit', rv)
                    out.append(rbuf.raw[:rlen.value])
            finally:
                self.lib.SCardDisconnect(card.value, 0)
        finally:
            self.lib.SCardReleaseContext(ctx)
        return out


# ---------------------------------------------------------------- the cards

class Card:
    """One kyso-vcard process in one reader."""

    _COUNT = re.compile(r'^kyso-vcard: apdus=(\d+)$')

    def __init__(self, rig, index, type, proc):
        self.rig = rig
        self.index = index
        self.type = type
        self.proc = proc
        self.final_count = None
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    @property
    def reader(self):
        return self.rig.reader_name(self.index)

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip('\n'))
        self._lines.put(None)

    def _next_count(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail('kyso-vcard in reader %d printed no APDU count within '
                     '%s s' % (self.index, timeout))
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                fail('kyso-vcard in reader %d exited (status %s) before '
                     'printing its APDU count'
                     % (self.index, self.proc.poll()))
            m = self._COUNT.match(line)
            if m:
                return int(m.group(1))

    def running(self):
        return self.proc.poll() is None

    def apdu_count(self, timeout=5.0):
        """How many APDUs the card has served so far (SIGUSR1)."""
        check(self.running(), 'kyso-vcard in reader %d is no longer running '
              '(status %s)' % (self.index, self.proc.poll()))
        while True:                     # forget lines nobody read
            try:
                self._lines.get_nowait()
            except queue.Empty:
                break
        self.proc.send_signal(signal.SIGUSR1)
        return self._next_count(timeout)

    def stop(self, wait_removed=True, timeout=5.0):
        """Remove the card: SIGTERM, the card prints its count and closes
        the connection. Returns the final APDU count."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail('kyso-vcard in reader %d ignored SIGTERM' % self.index)
            self._reader.join(timeout)
            self.final_count = self._last_count()
        self.rig._forget(self)
        if wait_removed and self.rig.running():
            self.rig.wait_card(self.index, present=False, timeout=timeout)
        return self.final_count

    def stop_later(self, delay):
        """SIGTERM the card `delay` seconds from now, from another process
        (the test's own threads may be stuck in a call holding the GIL).
        Call stop() or wait_exit() afterwards to collect it."""
        subprocess.Popen(_die_with_parent(
            ['sh', '-c', 'sleep %s && kill -TERM %d'
             % (float(delay), self.proc.pid)]), stdin=subprocess.DEVNULL)

    def kill(self, wait_removed=True, timeout=5.0):
        """Pull the card out abruptly (SIGKILL)."""
        _stop_process(self.proc, signal.SIGKILL)
        self.rig._forget(self)
        if wait_removed and self.rig.running():
            self.rig.wait_card(self.index, present=False, timeout=timeout)

    def wait_exit(self, timeout=10.0):
        """Wait for a card that exits by itself (--drop-after). Returns
        (exit status, final APDU count)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail('kyso-vcard in reader %d did not exit within %s s'
                 % (self.index, timeout))
        self._reader.join(timeout)
        self.final_count = self._last_count()
        self.rig._forget(self)
        return rc, self.final_count

    def _last_count(self):
        last = None
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            m = self._COUNT.match(line) if line is not None else None
            if m:
                last = int(m.group(1))
        return last


# ----------------------------------------------------------------- the rig

_live_rigs = []


def _cleanup_all():
    for r in list(_live_rigs):
        r.close()


def _on_signal(sig, frame):
    # Unwind through the `with` blocks; atexit catches the rest.
    raise SystemExit(128 + sig)


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def free_tcp_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's choice), for
    a test's own servers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


_workdirs = []


def _remove_workdirs():
    for d in _workdirs:
        if os.environ.get('KYSO_RIG_KEEP') == '1':
            sys.stderr.write('test files kept in %s\n' % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_workdirs)


def workdir(name):
    """A fresh directory for a test's files (card state, keys,
    signatures), removed at exit unless KYSO_RIG_KEEP=1."""
    d = tempfile.mkdtemp(prefix='kyso-%s-' % name)
    _workdirs.append(d)
    return d


class Stoppable:
    """A `with` block for anything with a stop(): servers, X, browsers."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def opensc_env(r):
    """The rig's environment plus a private OpenSC configuration with its
    file cache off (in the rig's folder), so that runs of OpenSC's module
    read the card and share no cached card files."""
    cache = os.path.join(r.dir, 'opensc-cache')
    os.makedirs(cache, exist_ok=True)
    conf = os.path.join(r.dir, 'opensc.conf')
    with open(conf, 'w') as f:
        f.write('app default {\n\tframework pkcs15 {\n'
                '\t\tuse_file_caching = no;\n'
                '\t\tfile_cache_dir = "%s";\n\t}\n}\n' % cache)
    return dict(r.env, OPENSC_CONF=conf)


def without_preload(env):
    """`env` without the sanitizer runtime preload: for programs that never
    load the module (sshd, openssl s_server)."""
    e = dict(env)
    e.pop('LD_PRELOAD', None)
    return e


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # vpcd binds INADDR_ANY with SO_REUSEADDR: test the same way.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _pick_base_port(span):
    fixed = os.environ.get('KYSO_RIG_PORT')
    if fixed:
        return int(fixed)
    for _ in range(200):
        base = random.randrange(PORT_MIN, PORT_MAX - span, 2)
        if all(_port_free(p) for p in range(base, base + span)):
            return base
    fail('no free vpcd ports in %d-%d' % (PORT_MIN, PORT_MAX))


class Rig:
    """A private pcscd with `readers` vpcd readers (rounded up to even)."""

    def __init__(self, readers=2, debug=None):
        check(1 <= readers <= 2 * MAX_ENTRIES,
              'a rig has 1 to %d readers' % (2 * MAX_ENTRIES))
        self.entries = (readers + 1) // 2
        self.debug = (os.environ.get('KYSO_RIG_DEBUG') == '1'
                      if debug is None else debug)
        self.dir = None
        self.base_port = None
        self.pcscd = None
        self.cards = []
        self.env = None
        self._pcscd_log = None
        self._failed = False

    # -- context management

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, TestSkip):
            self._failed = True
        self.close()
        return False

    # -- setup

    @staticmethod
    def requirements():
        """Skip (exit 77) when this machine cannot run a private pcscd."""
        if os.geteuid() != 0:
            skip('a private pcscd needs root (unshare -m, mount --bind)')
        for path in (PCSCD, VPCD_LIB, shutil.which('unshare') or '/nonexistent'):
            if not os.path.exists(path):
                skip('%s is not installed' % path)
        if not os.access(VCARD, os.X_OK):
            fail('%s is not built (KYSO_BUILD_DIR=%s)' % (VCARD, BUILD_DIR))

    def start(self):
        self.requirements()
        self.dir = tempfile.mkdtemp(prefix='kyso-rig-')
        os.makedirs(os.path.join(self.dir, 'run'))
        os.makedirs(os.path.join(self.dir, 'conf.d'))
        os.makedirs(os.path.join(self.dir, 'lib'))
        _live_rigs.append(self)
        self.env = dict(os.environ)
        self.env['PCSCLITE_CSOCK_NAME'] = self.socket_path
        # Clients started by the test, and the test process itself
        # (PyKCS11, ctypes), talk to this pcscd only.
        os.environ['PCSCLITE_CSOCK_NAME'] = self.socket_path
        # kyso's card cache (drivers/cache.h) goes to the rig's folder, not
        # the user's: each test starts with none, and its later processes
        # meet the cards warm, as a user's would.
        cache = os.path.join(self.dir, 'cache')
        self.env['XDG_CACHE_HOME'] = cache
        os.environ['XDG_CACHE_HOME'] = cache
        last_error = None
        for _ in range(3):
            self.base_port = _pick_base_port(2 * MAX_ENTRIES)
            try:
                self._start_pcscd()
                return
            except TestFailure as e:
                # Most likely another test took a port between the check
                # and pcscd's bind: try other ports.
                last_error = e
                self._stop_pcscd()
                if os.environ.get('KYSO_RIG_PORT'):
                    break
        raise last_error

    @property
    def socket_path(self):
        return os.path.join(self.dir, 'run', 'pcscd.comm')

    def port(self, index):
        """The vpcd port of reader `index`."""
        return self.base_port + index

    def reader_name(self, index):
        # pcscd names a reader FRIENDLYNAME, its number and its slot.
        return 'Kyso vpcd %d 00 %02X' % (index // 2, index % 2)

    @property
    def reader_count(self):
        return 2 * self.entries

    def _write_config(self):
        conf = os.path.join(self.dir, 'conf.d')
        for f in os.listdir(conf):
            os.unlink(os.path.join(conf, f))
        for e in range(self.entries):
            lib = VPCD_LIB
            if e > 0:
                # A copy, not a link: dlopen() would hand back the same
                # library, sharing vpcd's static socket table.
                lib = os.path.join(self.dir, 'lib', 'libifdvpcd-%d.so' % e)
                if not os.path.exists(lib):
                    shutil.copyfile(VPCD_LIB, lib)
            channel = self.base_port + 2 * e
            # One file per entry, named so that pcscd adds them in order.
            with open(os.path.join(conf, 'vpcd-%d' % e), 'w') as f:
                f.write('FRIENDLYNAME "Kyso vpcd %d"\n'
                        'DEVICENAME /dev/null:0x%X\n'
                        'LIBPATH %s\n'
                        'CHANNELID 0x%X\n' % (e, channel, lib, channel))

    def _start_pcscd(self):
        self._write_config()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        d = self.dir
        args = '-d -a' if self.debug else ''
        script = ('mkdir -p /run/pcscd && mount --bind %s/run /run/pcscd && '
                  'exec %s --foreground %s -c %s/conf.d' % (d, PCSCD, args, d))
        self._pcscd_log = open(os.path.join(d, 'pcscd.log'), 'ab')
        env = dict(os.environ)
        env.pop('LD_PRELOAD', None)     # pcscd needs no sanitizer
        self.pcscd = subprocess.Popen(
            _die_with_parent(['unshare', '-m', '--propagation', 'private',
                              'sh', '-c', script]),
            stdin=subprocess.DEVNULL, stdout=self._pcscd_log,
            stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self, timeout=10.0):
        want = [self.reader_name(i) for i in range(self.reader_count)]
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            if self.pcscd.poll() is not None:
                fail('pcscd exited with status %s:\n%s'
                     % (self.pcscd.returncode, self.pcscd_log()))
            if os.path.exists(self.socket_path):
                try:
                    seen = Pcsc().readers()
                except PcscError:
                    seen = None
                if seen is not None and sorted(seen) == sorted(want):
                    return
            time.sleep(0.05)
        fail('pcscd did not show readers %s within %s s (saw %s):\n%s'
             % (want, timeout, seen, self.pcscd_log()))

    def pcscd_log(self):
        try:
            with open(os.path.join(self.dir, 'pcscd.log'), 'rb') as f:
                return f.read()[-4000:].decode(errors='replace')
        except OSError:
            return '(no pcscd log)'

    # -- pcscd control

    def running(self):
        return self.pcscd is not None and self.pcscd.poll() is None

    def _stop_pcscd(self, sig=signal.SIGTERM):
        _stop_process(self.pcscd, sig)
        self.pcscd = None
        if self._pcscd_log is not None:
            self._pcscd_log.close()
            self._pcscd_log = None

    def stop_pcscd(self, kill=False):
        """pcscd goes away (the cards stay and keep trying to reconnect)."""
        self._stop_pcscd(signal.SIGKILL if kill else signal.SIGTERM)

    def restart_pcscd(self, readers=None, kill=False):
        """Stop pcscd and start it again, with `readers` readers if given,
        on the same ports and socket: running cards reconnect by themselves.
        The closest thing to reader hot-plug that vpcd allows."""
        self.stop_pcscd(kill=kill)
        if readers is not None:
            check(1 <= readers <= 2 * MAX_ENTRIES,
                  'a rig has 1 to %d readers' % (2 * MAX_ENTRIES))
            self.entries = (readers + 1) // 2
        self._start_pcscd()

    # -- cards

    def start_card(self, reader_index, type='unknown', state=None,
                   provision=None, extra_args=(), wait=True, timeout=5.0,
                   delay=None):
        """Start kyso-vcard in reader `reader_index`; with `wait`, return
        once pcscd sees the card. With `delay` (seconds), the card goes in
        that much later, by itself (`wait` is then ignored): for a test
        whose thread will be stuck in a call that holds the GIL."""
        check(0 <= reader_index < self.reader_count,
              'no reader %d in a rig with %d readers'
              % (reader_index, self.reader_count))
        cmd = [VCARD, '--type', type, '--port', str(self.port(reader_index))]
        if state is not None:
            cmd += ['--state', str(state)]
        if provision is not None:
            cmd += ['--provision', provision]
        cmd += [str(a) for a in extra_args]
        if delay is not None:
            cmd = ['sh', '-c', 'sleep %s && exec "$@"' % float(delay),
                   'sh'] + cmd
            wait = False
        proc = subprocess.Popen(_die_with_parent(cmd),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True)
        card = Card(self, reader_index, type, proc)
        self.cards.append(card)
        if wait:
            self.wait_card(reader_index, present=True, timeout=timeout,
                           card=card)
        return card

    def _forget(self, card):
        if card in self.cards:
            self.cards.remove(card)

    def wait_card(self, reader_index, present=True, timeout=5.0, card=None):
        """Wait until pcscd reports a card (or none) in the reader."""
        name = self.reader_name(reader_index)
        deadline = time.monotonic() + timeout
        flags = None
        while time.monotonic() < deadline:
            if card is not None and not card.running():
                fail('kyso-vcard in reader %d exited with status %s'
                     % (reader_index, card.proc.returncode))
            try:
                flags, _ = Pcsc().state(name)
            except PcscError:
                flags = None
            if flags is not None and bool(flags & SCARD_STATE_PRESENT) == present:
                return
            time.sleep(0.05)
        fail('pcscd did not see the card %s reader %d (%s) within %s s '
             '(state %s)' % ('in' if present else 'leave', reader_index,
                             name, timeout,
                             None if flags is None else hex(flags)))

    def atr(self, reader_index):
        return Pcsc().state(self.reader_name(reader_index))[1]

    def transmit(self, reader_index, apdus):
        """Raw APDUs (hex strings or bytes) to the card in a reader."""
        raw = [bytes.fromhex(a) if isinstance(a, str) else a for a in apdus]
        return Pcsc().transmit(self.reader_name(reader_index), raw)

    # -- teardown

    def close(self):
        if self in _live_rigs:
            _live_rigs.remove(self)
        for card in list(self.cards):
            _stop_process(card.proc, signal.SIGTERM, grace=2.0)
            self._forget(card)
        if self._failed and self.dir:
            sys.stderr.write('--- pcscd log (%s)\n%s\n'
                             % (self.dir, self.pcscd_log()))
        self._stop_pcscd()
        if self.dir and os.environ.get('KYSO_RIG_KEEP') == '1':
            sys.stderr.write('rig kept in %s\n' % self.dir)
        elif self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


# ------------------------------------------------------------ pkcs11-tool

def pkcs11_tool(module, *args, env=None, timeout=30):
    return run(['pkcs11-tool', '--module', module] + list(args), env=env,
               timeout=timeout)


def tool_ok(res):
    """Whether pkcs11-tool succeeded. OpenSC 0.23's pkcs11-tool exits 1
    with "No slots." on stderr whenever the module reports zero slots (with
    tokens, for -T), after doing what it was asked: its main() has
    `if (p11_num_slots == 0) { ... "No slots." ...; err = 1; }` right after
    listing. That status is the tool's verdict on an empty slot list, not a
    module failure, so it counts as success here."""
    if res.returncode == 0:
        return True
    return res.returncode == 1 and res.stderr.strip() == 'No slots.'


def parse_slots(listing):
    """pkcs11-tool -L/-T output -> list of dicts {id, description, token}
    where token is None for "(empty)" slots, else the token's fields."""
    slots = []
    cur = None
    for line in listing.splitlines():
        m = re.match(r'^Slot (\d+) \((0x[0-9a-fA-F]+)\): (.*)$', line)
        if m:
            cur = {'index': int(m.group(1)), 'id': int(m.group(2), 16),
                   'description': m.group(3).strip(), 'token': None,
                   'empty': False}
            slots.append(cur)
            continue
        if cur is None:
            continue
        s = line.strip()
        if s == '(empty)':
            cur['empty'] = True
        elif ':' in s:
            k, v = s.split(':', 1)
            if cur['token'] is None:
                cur['token'] = {}
            cur['token'][k.strip()] = v.strip()
    return slots
