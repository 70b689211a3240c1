#!/usr/bin/python3
"""kyso against OpenSC on the same virtual PIV card: APDUs, bytes, time.

    /usr/bin/python3 tests/bench/bench.py --build build

One run starts a private pcscd with a kyso-vcard PIV card (through
tests/integration/rig.py), then runs every scenario through each module, each
run in a fresh process (a cold start of the module), and prints a table:
APDUs counted at the card, bytes of those APDUs, the median wall time of the
measured window, the protocol's lower bound for the scenario and each
module's ratio to it. docs/performance.md explains the scenarios and the
bounds, and holds a table from a real run.

Options:
    --build DIR     the meson build directory (default: <repo>/build)
    --runs N        processes per scenario and module; time is the median
                    (default 7)
    --modules LIST  comma-separated, from: kyso, opensc (OpenSC with its
                    file cache off, private opensc.conf), opensc-sys
                    (OpenSC with the system's opensc.conf), opensc-cache
                    (OpenSC with its file cache on and warm)
                    (default: kyso,opensc,opensc-sys)
    --scenarios LIST  comma-separated scenario names (default: all)
    --trace         also print the APDUs (by INS) each module sent
    --trace-apdus   also print every APDU of the first run: instruction,
                    PIV object, command and response length, status word
    --smoke         one run of the issue-3 scenarios through kyso and
                    OpenSC; fail unless kyso needs no more APDUs than
                    OpenSC in each and login + ECDSA is exactly VERIFY +
                    GENERAL AUTHENTICATE. Exit 0 pass, 1 fail, 77 skip.

Must run as root (the rig's private pcscd needs a mount namespace), with
Debian's /usr/bin/python3.
"""

import argparse
import ctypes
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
CLIENT = os.path.join(HERE, 'bench_client.py')
OPENSC_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so'
PIN = '123456'
CHILD_TIMEOUT = 60.0
# pcsclite.h
SCARD_SCOPE_SYSTEM = 2
SCARD_SHARE_SHARED = 2
SCARD_PROTOCOL_ANY = 3
SCARD_RESET_CARD = 1
EXIT_SKIP = 77


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description='kyso against OpenSC on the same virtual PIV card')
    ap.add_argument('--build', default=os.environ.get(
        'KYSO_BUILD_DIR', os.path.join(SOURCE_DIR, 'build')))
    ap.add_argument('--runs', type=int, default=7)
    ap.add_argument('--modules', default='kyso,opensc,opensc-sys')
    ap.add_argument('--scenarios', default='')
    ap.add_argument('--trace', action='store_true')
    ap.add_argument('--trace-apdus', action='store_true')
    ap.add_argument('--smoke', action='store_true')
    args = ap.parse_args(argv)
    if args.smoke:
        args.runs = 1
        args.modules = 'kyso,opensc'
    if args.runs < 1:
        ap.error('--runs must be at least 1')
    return args


# rig.py reads KYSO_BUILD_DIR when it is imported (and may re-exec this
# script with a sanitizer runtime preloaded): set it first.
ARGS = parse_args(sys.argv[1:])
os.environ['KYSO_BUILD_DIR'] = os.path.abspath(ARGS.build)
sys.path.insert(0, os.path.join(SOURCE_DIR, 'tests', 'integration'))
sys.path.insert(0, HERE)

import rig  # noqa: E402
import piv_prep  # noqa: E402
from vpcd_tap import VpcdTap  # noqa: E402


# ------------------------------------------------------------ lower bounds

def _pieces(cmd_len, rsp_len):
    """Short APDUs for one command of `cmd_len` data bytes answered with
    `rsp_len` bytes: the command chained in 255-byte pieces, the answer
    in 256-byte ones (61xx + GET RESPONSE); the last command piece gets
    the first part of the answer."""
    cmd = max(1, -(-cmd_len // piv_prep.SHORT_LC_MAX))
    rsp = piv_prep.short_responses(rsp_len)
    return cmd + rsp - 1


def ga_sign_apdus(input_len, sig_max):
    """GENERAL AUTHENTICATE for a signature (SP 800-73-4 pt 2, 3.2.4):
    7C { 82 00, 81 input } -> 7C { 82 signature }."""
    t = piv_prep.tlv
    cmd = len(t(0x7C, t(0x82, b'') + t(0x81, bytes(input_len))))
    rsp = len(t(0x7C, t(0x82, bytes(sig_max))))
    return _pieces(cmd, rsp)


def bound_cold_start(facts):
    parts = [('SELECT', 1)]
    hist = facts['lengths'][piv_prep.TAG_KEY_HISTORY]
    parts.append(('Key History', piv_prep.short_responses(hist)))
    for slot, tag in sorted(piv_prep.CERT_TAGS.items()):
        n = facts['lengths'][tag]
        parts.append(('cert %02X (%d B)' % (slot, n),
                      piv_prep.short_responses(n)))
    return parts


def bound_login_ecdsa_p256(facts):
    # CKM_ECDSA input: a SHA-256 hash; signature: DER, at most 72 bytes.
    return [('VERIFY', 1), ('GENERAL AUTHENTICATE', ga_sign_apdus(32, 72))]


def bound_login_ecdsa_9c(facts):
    return [('VERIFY (CKU_USER)', 1), ('VERIFY (CKU_CONTEXT_SPECIFIC)', 1),
            ('GENERAL AUTHENTICATE', ga_sign_apdus(32, 72))]


def bound_login_rsa2048(facts):
    # CKM_RSA_PKCS: the card gets the whole 256-byte padded block.
    return [('VERIFY', 1), ('GENERAL AUTHENTICATE', ga_sign_apdus(256, 256))]


def bound_unknown(facts):
    return [('SELECT PIV (6A82)', 1)]


# --------------------------------------------------------------- scenarios

class Scenario:
    def __init__(self, name, title, card, client, bound, check,
                 key_id=None, issue3=False):
        self.name = name
        self.title = title
        self.card = card            # 'demo', 'ec9a' or 'unknown'
        self.client = client        # bench_client.py --scenario
        self.bound = bound          # facts -> [(what, APDUs)]
        self.check = check          # result -> error message or None
        self.key_id = key_id
        self.issue3 = issue3        # part of issue 3's acceptance


def check_cold_start(res):
    if res.get('tokens') != 1:
        return 'the module showed %s tokens, not 1' % res.get('tokens')
    certs = res.get('objects', {}).get('cert', 0)
    if certs != 4:
        return 'the module listed %d certificates, not 4' % certs
    return None


def check_unknown(res):
    if res.get('tokens') != 0:
        return 'the module showed the unknown card as a token'
    return None


def check_signature(key_type, always):
    def check(res):
        if res.get('key_type') != key_type:
            return 'signed with a %s key, not %s' % (res.get('key_type'),
                                                     key_type)
        if res.get('always_authenticate') != always:
            return 'CKA_ALWAYS_AUTHENTICATE is %s' % res.get(
                'always_authenticate')
        return verify_signature(res)
    return check


SCENARIOS = [
    Scenario('cold-start', 'cold start to all objects and attributes',
             'demo', 'cold_start', bound_cold_start, check_cold_start,
             issue3=True),
    Scenario('login-ecdsa-p256', 'login + 1 ECDSA P-256 signature (9A)',
             'ec9a', 'login_sign', bound_login_ecdsa_p256,
             check_signature('ec', False), key_id='01', issue3=True),
    Scenario('login-rsa2048', 'login + 1 RSA-2048 PKCS#1 signature (9A)',
             'demo', 'login_sign', bound_login_rsa2048,
             check_signature('rsa', False), key_id='01', issue3=True),
    Scenario('login-ecdsa-9c', 'login + 1 ECDSA P-256 signature (9C, '
             'PIN always)', 'demo', 'login_sign', bound_login_ecdsa_9c,
             check_signature('ec', True), key_id='02'),
    Scenario('unknown-card', 'unknown card: C_Initialize + C_GetSlotList',
             'unknown', 'unknown_card', bound_unknown, check_unknown),
]


# ----------------------------------------------------------------- modules

OPENSC_NO_CACHE_CONF = '''# kyso benchmark: OpenSC with its file cache off.
app default {
	framework pkcs15 {
		use_file_caching = no;
	}
}
'''

OPENSC_CACHE_CONF = '''# kyso benchmark: OpenSC with its file cache on.
app default {
	framework pkcs15 {
		use_file_caching = yes;
	}
}
'''


class ModuleUnderTest:
    def __init__(self, name, path, env, keep_cache=False, note=''):
        self.name = name
        self.path = path
        self.env = env              # extra environment for the client
        self.keep_cache = keep_cache
        self.note = note


def make_modules(names, workdir, build):
    mods = []
    for name in names:
        cache = os.path.join(workdir, 'cache-' + name)
        os.makedirs(cache, exist_ok=True)
        env = {'XDG_CACHE_HOME': cache}
        if name == 'kyso':
            conf = os.path.join(workdir, 'kyso.conf')
            open(conf, 'w').close()     # no user or system settings
            env['KYSO_CONF'] = conf
            mods.append(ModuleUnderTest(
                name, os.path.join(build, 'module', 'kyso-pkcs11.so'), env))
        elif name in ('opensc', 'opensc-cache'):
            conf = os.path.join(workdir, name + '.conf')
            with open(conf, 'w') as f:
                f.write(OPENSC_CACHE_CONF if name == 'opensc-cache'
                        else OPENSC_NO_CACHE_CONF)
            env['OPENSC_CONF'] = conf
            mods.append(ModuleUnderTest(
                name, OPENSC_MODULE, env, keep_cache=name == 'opensc-cache',
                note='file cache on, warm' if name == 'opensc-cache'
                else 'file cache off'))
        elif name == 'opensc-sys':
            mods.append(ModuleUnderTest(name, OPENSC_MODULE, env,
                                        note='system opensc.conf'))
        else:
            raise SystemExit('unknown module %r' % name)
    return mods


# ------------------------------------------------------------------- cards

class Bench:
    """The rig, one card in reader 0 behind the byte-counting tap, and the
    card states the scenarios need."""

    def __init__(self, r, workdir):
        self.rig = r
        self.workdir = workdir
        self.tap = VpcdTap(r.port(0))
        self.card = None
        self.kind = None
        self.states = {'demo': os.path.join(workdir, 'demo.state'),
                       'ec9a': os.path.join(workdir, 'ec9a.state')}
        self.facts = {}

    def close(self):
        if self.card is not None:
            self.card.stop()
        self.tap.close()

    def use(self, kind):
        if kind == self.kind:
            return
        if self.card is not None:
            self.card.stop()
            self.card = None
        if kind == 'unknown':
            self.card = self._start('unknown')
        else:
            self.card = self._start('piv', state=self.states[kind])
        self.kind = kind

    def _start(self, type, state=None, provision=None):
        # The card connects to the tap, which relays to reader 0: the
        # last --port wins in kyso-vcard's getopt_long.
        return self.rig.start_card(0, type, state=state, provision=provision,
                                   extra_args=['--port', str(self.tap.port)],
                                   timeout=30)

    def prepare(self, kinds):
        """Create the card states: the demo card, and a copy of it whose
        9A key is EC P-256. Measure what the lower bounds need."""
        if 'demo' in kinds or 'ec9a' in kinds:
            self.card = self._start('piv', state=self.states['demo'],
                                    provision='demo')
            self.kind = 'demo'
            self._measure()
        if 'ec9a' in kinds:
            self.card.stop()
            self.card = None
            self.kind = None
            shutil.copyfile(self.states['demo'], self.states['ec9a'])
            self.use('ec9a')
            piv_prep.import_p256_in_9a(self.rig, 0, self.workdir)
            self._measure()
        self.facts['unknown'] = {}

    def _measure(self):
        tags = [piv_prep.TAG_KEY_HISTORY] + list(piv_prep.CERT_TAGS.values())
        self.facts[self.kind] = {
            'lengths': piv_prep.object_lengths(self.rig, 0, tags)}

    def reset_card(self):
        """Reset the card (SCardDisconnect with SCARD_RESET_CARD), so that
        every run starts from the state a browser meets: nothing
        selected, no PIN verified. Left alone, the state would depend on
        the previous run and on timing: pcscd powers an unused card off
        only some half a second after the last client lets go (measured
        with this rig), so a run that follows quickly finds the PIV
        application still selected, and OpenSC then skips its SELECT."""
        lib = rig.Pcsc().lib
        ctx = ctypes.c_long()
        handle = ctypes.c_long()
        proto = ctypes.c_ulong()
        rv = lib.SCardEstablishContext(SCARD_SCOPE_SYSTEM, None, None,
                                       ctypes.byref(ctx)) & 0xFFFFFFFF
        if rv != 0:
            rig.fail('SCardEstablishContext: 0x%08X' % rv)
        try:
            rv = lib.SCardConnect(ctx, self.rig.reader_name(0).encode(),
                                  SCARD_SHARE_SHARED, SCARD_PROTOCOL_ANY,
                                  ctypes.byref(handle),
                                  ctypes.byref(proto)) & 0xFFFFFFFF
            if rv != 0:
                rig.fail('SCardConnect: 0x%08X' % rv)
            rv = lib.SCardDisconnect(handle.value,
                                     SCARD_RESET_CARD) & 0xFFFFFFFF
            if rv != 0:
                rig.fail('SCardDisconnect(SCARD_RESET_CARD): 0x%08X' % rv)
        finally:
            lib.SCardReleaseContext(ctx)

    def snapshot(self):
        return self.card.apdu_count(), self.tap.counters()


# -------------------------------------------------------------- one run

class RunResult:
    def __init__(self):
        self.apdus = None
        self.bytes = None
        self.trace = []
        self.elapsed = None
        self.result = {}
        self.error = None


def run_client(bench, scenario, module):
    """One fresh client process: returns a RunResult."""
    out = RunResult()
    # A module that keeps its cache gets one per card state: OpenSC keys
    # its file cache by the card's serial, which the two PIV states share,
    # and would serve the demo card's 9A certificate for the other's.
    cache = module.env['XDG_CACHE_HOME']
    if module.keep_cache:
        cache += '-' + bench.kind
    else:
        shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache, exist_ok=True)
    bench.reset_card()
    env = dict(bench.rig.env)
    for k in ('KYSO_DEBUG', 'KYSO_DEBUG_FILE', 'OPENSC_DEBUG', 'OPENSC_CONF',
              'KYSO_CONF'):
        env.pop(k, None)
    env.update(module.env)
    env['XDG_CACHE_HOME'] = cache
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    cmd = [sys.executable, CLIENT, '--module', module.path,
           '--scenario', scenario.client, '--pin', PIN,
           '--ctl-in', str(to_child_r), '--ctl-out', str(from_child_w)]
    if scenario.key_id:
        cmd += ['--key-id', scenario.key_id]
    logs = tempfile.TemporaryFile(mode='w+')
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                            stdout=logs, stderr=subprocess.STDOUT,
                            pass_fds=(to_child_r, from_child_w))
    os.close(to_child_r)
    os.close(from_child_w)
    marks = {}
    rd = os.fdopen(from_child_r, 'r')
    wr = os.fdopen(to_child_w, 'w')
    deadline = time.monotonic() + CHILD_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                out.error = 'timed out after %.0f s' % CHILD_TIMEOUT
                break
            ready, _, _ = select.select([rd], [], [], left)
            if not ready:
                continue
            line = rd.readline()
            if not line:
                break
            word, _, rest = line.rstrip('\n').partition(' ')
            if word == 'mark':
                marks[rest] = bench.snapshot()
                wr.write('go\n')
                wr.flush()
            elif word == 'result':
                out.result = json.loads(rest)
    except BrokenPipeError:
        pass
    finally:
        rd.close()
        try:
            wr.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if out.error is None and 'error' in out.result:
        out.error = out.result['error']
    if out.error is None and proc.returncode != 0:
        out.error = 'client exited with status %s' % proc.returncode
    if out.error is None and ('begin' not in marks or 'end' not in marks):
        out.error = 'client never reached the end of its window'
    if out.error is None:
        (c0, t0), (c1, t1) = marks['begin'], marks['end']
        out.apdus = c1 - c0
        window = t1.since(t0)
        out.bytes = window.bytes
        out.trace = window.trace
        if window.apdus != out.apdus:
            out.error = ('the card counted %d APDUs, the tap %d'
                         % (out.apdus, window.apdus))
        out.elapsed = out.result.get('elapsed')
        if out.error is None:
            out.error = scenario.check(out.result)
    if out.error is not None:
        logs.seek(0)
        tail = logs.read()[-2000:]
        if tail:
            out.error += '\n' + tail
    logs.close()
    return out


def verify_signature(res):
    """Check the client's signature with openssl against the certificate
    of the same CKA_ID. None when it verifies, else what is wrong."""
    try:
        cert = bytes.fromhex(res['cert'])
        sig = bytes.fromhex(res['signature'])
        data = bytes.fromhex(res['data'])
    except (KeyError, ValueError):
        return 'no signature or certificate in the result'
    if not cert:
        return 'no certificate with the key\'s CKA_ID'
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ('cert', 'pub', 'sig', 'in')}
        with open(paths['cert'], 'wb') as f:
            f.write(cert)
        if res.get('key_type') == 'ec':
            # PKCS#11 ECDSA signatures are r || s; openssl wants DER.
            half = len(sig) // 2
            sig = ecdsa_der(sig[:half], sig[half:])
        with open(paths['sig'], 'wb') as f:
            f.write(sig)
        with open(paths['in'], 'wb') as f:
            f.write(data)
        p = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-in',
                            paths['cert'], '-pubkey', '-noout', '-out',
                            paths['pub']], capture_output=True)
        if p.returncode != 0:
            return 'openssl cannot read the certificate'
        p = subprocess.run(['openssl', 'pkeyutl', '-verify', '-pubin',
                            '-inkey', paths['pub'], '-in', paths['in'],
                            '-sigfile', paths['sig']], capture_output=True)
        if p.returncode != 0:
            return 'the signature does not verify with the certificate'
    return None


def ecdsa_der(r, s):
    def integer(v):
        v = v.lstrip(b'\0') or b'\0'
        if v[0] & 0x80:
            v = b'\0' + v
        return piv_prep.tlv(0x02, v)
    return piv_prep.tlv(0x30, integer(r) + integer(s))


# --------------------------------------------------------------- reporting

INS_NAMES = {
    0xA4: 'SELECT', 0xCB: 'GET DATA', 0xCA: 'GET DATA(CA)',
    0xC0: 'GET RESPONSE', 0x20: 'VERIFY', 0x87: 'GENERAL AUTHENTICATE',
    0xF8: 'GET SERIAL', 0xFD: 'GET VERSION', 0xF7: 'GET METADATA',
    0xDB: 'PUT DATA', 0x47: 'GENERATE', 0xB0: 'READ BINARY',
    0x84: 'GET CHALLENGE', 0x88: 'INTERNAL AUTHENTICATE', 0x22: 'MSE',
    0x2A: 'PSO', 0xB2: 'READ RECORD',
}


# SP 800-73-4 pt 1, table 3 (and YubiKey's own objects).
PIV_OBJECT_NAMES = {
    '7E': 'Discovery', '7F61': 'BIT group', '5FC107': 'CCC',
    '5FC102': 'CHUID', '5FC105': 'cert 9A', '5FC10A': 'cert 9C',
    '5FC10B': 'cert 9D', '5FC101': 'cert 9E', '5FC10C': 'Key History',
    '5FC109': 'Printed Information', '5FC103': 'Fingerprints',
    '5FC108': 'Facial Image', '5FC106': 'Security Object',
    '5FC121': 'Iris', '5FC122': 'SM cert signer', '5FC123': 'PCRDCS',
    '5FFF00': 'YubiKey admin data', '5FFF01': 'YubiKey PIN-protected data',
}


def apdu_name(a):
    name = INS_NAMES.get(a.ins, 'INS %02X' % a.ins if a.ins is not None
                         else '?')
    if a.tag is not None:
        name += ' ' + PIV_OBJECT_NAMES.get(a.tag, a.tag)
    if a.sw == '6A82':
        name += ' (6A82)'
    return name


def describe_trace(trace):
    """APDUs by INS, consecutive repeats folded: 'SELECT, GET DATA x3'."""
    out = []
    for a in trace:
        name = apdu_name(a)
        if out and out[-1][0] == name:
            out[-1][1] += 1
        else:
            out.append([name, 1])
    return ', '.join(n if c == 1 else '%s x%d' % (n, c) for n, c in out)


class Row:
    def __init__(self, scenario, module, runs, bound):
        self.scenario = scenario
        self.module = module
        self.runs = runs
        self.bound = bound

    @property
    def ok_runs(self):
        return [r for r in self.runs if r.error is None]

    @property
    def errors(self):
        return [r.error for r in self.runs if r.error is not None]

    @property
    def apdus(self):
        """The count if every run agreed, else (min, max)."""
        counts = sorted({r.apdus for r in self.ok_runs})
        if not counts:
            return None
        return counts[0] if len(counts) == 1 else (counts[0], counts[-1])

    @property
    def apdu_min(self):
        a = self.apdus
        return a[0] if isinstance(a, tuple) else a

    def cells(self):
        ok = self.ok_runs
        bound_n = sum(n for _, n in self.bound)
        if not ok:
            return [self.scenario.name, self.module.name, 'FAILED', '',
                    str(bound_n), '', '', '']
        a = self.apdus
        apdus = ('%d-%d' % a) if isinstance(a, tuple) else str(a)
        # ECDSA signatures vary by a byte or two (DER): the median.
        nbytes = '%d' % statistics.median_low(r.bytes for r in ok)
        ms = statistics.median(r.elapsed for r in ok) * 1000.0
        ratio = '%.2f' % (self.apdu_min / bound_n) if bound_n else '-'
        note = '' if len(ok) == len(self.runs) else \
            '%d/%d runs failed' % (len(self.runs) - len(ok), len(self.runs))
        return [self.scenario.name, self.module.name, apdus, nbytes,
                str(bound_n), ratio, '%.1f' % ms, note]


HEADER = ['scenario', 'module', 'APDUs', 'bytes', 'bound', 'ratio',
          'time ms', 'note']


def print_table(rows):
    table = [HEADER] + [r.cells() for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    right = {2, 3, 4, 5, 6}

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return '| ' + ' | '.join(cells) + ' |'
    print(fmt(table[0]))
    print('|' + '|'.join(('-' * (w + 1) + ':') if i in right
                         else '-' * (w + 2)
                         for i, w in enumerate(widths)) + '|')
    for row in table[1:]:
        print(fmt(row))


def print_bounds(scenarios, facts):
    print('\nLower bounds (short APDUs, as the card takes them):')
    for s in scenarios:
        parts = s.bound(facts[s.card])
        print('  %-17s %2d = %s' % (s.name, sum(n for _, n in parts),
                                    ' + '.join('%s %d' % (w, n)
                                               for w, n in parts)))


def print_traces(rows):
    print('\nAPDUs sent (first run), by INS:')
    for row in rows:
        ok = row.ok_runs
        if ok:
            print('  %-17s %-11s %s' % (row.scenario.name, row.module.name,
                                        describe_trace(ok[0].trace)))


def print_apdus(rows):
    print('\nEvery APDU (first run): command bytes -> response bytes, SW:')
    for row in rows:
        ok = row.ok_runs
        if not ok:
            continue
        print('  %s with %s:' % (row.scenario.name, row.module.name))
        for i, a in enumerate(ok[0].trace, 1):
            print('    %3d %-32s %4d -> %4d  %s' % (i, apdu_name(a),
                                                   a.command_len,
                                                   a.response_len, a.sw))


# -------------------------------------------------------------------- main

def smoke_check(rows):
    """The assertions of --smoke: counts, never time."""
    problems = []
    by = {(r.scenario.name, r.module.name): r for r in rows}
    for (name, mod), row in sorted(by.items()):
        for e in row.errors:
            problems.append('%s with %s: %s' % (name, mod, e))
    for s in SCENARIOS:
        if not s.issue3:
            continue
        k, o = by.get((s.name, 'kyso')), by.get((s.name, 'opensc'))
        if k is None or o is None or k.apdus is None or o.apdus is None:
            continue
        if isinstance(k.apdus, tuple) or isinstance(o.apdus, tuple):
            problems.append('%s: APDU counts varied between runs' % s.name)
            continue
        if k.apdus > o.apdus:
            problems.append('%s: kyso sent %d APDUs, OpenSC %d'
                            % (s.name, k.apdus, o.apdus))
    ec = by.get(('login-ecdsa-p256', 'kyso'))
    if ec is not None and ec.ok_runs:
        trace = ec.ok_runs[0].trace
        ins = [a.ins for a in trace]
        if ins != [0x20, 0x87]:
            problems.append('login + ECDSA P-256 with kyso sent %s, not '
                            'exactly VERIFY + GENERAL AUTHENTICATE'
                            % (describe_trace(trace) or 'nothing'))
    return problems


def main():
    args = ARGS
    if os.environ.get('KYSO_SANITIZED') == '1' or os.environ.get(
            'KYSO_PRELOAD'):
        print('note: sanitized build: times are not meaningful',
              file=sys.stderr)
    wanted = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    known = {s.name for s in SCENARIOS}
    for w in wanted:
        if w not in known:
            raise SystemExit('unknown scenario %r (known: %s)'
                             % (w, ', '.join(sorted(known))))
    scenarios = [s for s in SCENARIOS
                 if (not wanted or s.name in wanted)
                 and (not args.smoke or s.issue3)]
    names = [m.strip() for m in args.modules.split(',') if m.strip()]

    try:
        rig.Rig.requirements()
    except rig.TestSkip as e:
        print('SKIP: %s' % e)
        return EXIT_SKIP
    except rig.TestFailure as e:
        print('FAIL: %s' % e, file=sys.stderr)
        return 1
    workdir = tempfile.mkdtemp(prefix='kyso-bench-')
    rows = []
    try:
        modules = make_modules(names, workdir, os.path.abspath(args.build))
        for m in modules:
            if not os.path.exists(m.path):
                print('FAIL: %s is not there' % m.path, file=sys.stderr)
                return 1
        with rig.Rig(readers=2) as r:
            bench = Bench(r, workdir)
            try:
                bench.prepare({s.card for s in scenarios})
                # Fewest card swaps: scenarios grouped by card, in order.
                order = sorted(scenarios,
                               key=lambda s: ['demo', 'ec9a',
                                              'unknown'].index(s.card))
                for s in order:
                    bench.use(s.card)
                    bound = s.bound(bench.facts[s.card])
                    results = {m.name: [] for m in modules}
                    for m in modules:
                        if m.keep_cache:
                            run_client(bench, s, m)     # warm its cache
                    # Interleaved, so drift touches every module alike.
                    for _ in range(args.runs):
                        for m in modules:
                            results[m.name].append(run_client(bench, s, m))
                    for m in modules:
                        rows.append(Row(s, m, results[m.name], bound))
                        sys.stderr.write('.')
                        sys.stderr.flush()
            finally:
                bench.close()
            sys.stderr.write('\n')
            facts = bench.facts
    except (rig.TestFailure, piv_prep.PrepError) as e:
        print('FAIL: %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows.sort(key=lambda r: (SCENARIOS.index(r.scenario),
                             names.index(r.module.name)))
    print('kyso benchmark: %d run(s) per scenario and module; APDUs and '
          'bytes counted at the card\nin the measured window; time = median '
          'wall time of that window.\n' % args.runs)
    print_table(rows)
    print_bounds(scenarios, facts)
    notes = ['%s: %s' % (m.name, m.note) for m in modules if m.note]
    if notes:
        print('\nModules: ' + '; '.join(notes))
    if args.trace or args.smoke:
        print_traces(rows)
    if args.trace_apdus:
        print_apdus(rows)
    failed = [(r, e) for r in rows for e in r.errors]
    for r, e in failed[:10]:
        print('\nERROR %s with %s: %s' % (r.scenario.name, r.module.name, e),
              file=sys.stderr)
    if args.smoke:
        problems = smoke_check(rows)
        for p in problems:
            print('FAIL: %s' % p, file=sys.stderr)
        if problems:
            return 1
        print('PASS')
        return 0
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
