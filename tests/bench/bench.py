#!/usr/bin/python3
"""kyso against OpenSC on the same virtual cards (PIV, and the Feitian
ePass2003 in its PKCS#15 and vendor layouts): APDUs, bytes, time, and
each module's own work.

    /usr/bin/python3 tests/bench/bench.py --build build

One run starts a private pcscd with four vpcd readers and kyso-vcard PIV
cards, then ePass2003 tokens (kyso-vcard --type epass2003 --provision
pkcs15|vendor; through tests/integration/rig.py), runs every scenario through
each module, each run in a fresh process (a cold start of the module) with a
fresh XDG_CACHE_HOME, and prints a table: APDUs counted at the cards, bytes
of those APDUs, the median wall time of the measured window, the protocol's
lower bound for the scenario, each module's ratio to it, and issue 8's goal
for the scenario, met or not. A second table gives each module's own work
for a token listing and for one signature: instructions under callgrind and
CPU time, card time excluded, next to one APDU round trip (kyso-bench-cost,
tests/bench/module_cost.c). docs/performance.md explains the scenarios, the
bounds and the goals, and holds the tables from a real run.

Options:
    --build DIR     the meson build directory (default: <repo>/build)
    --runs N        processes per scenario and module; time is the median
                    (default 7; the thread scenarios take at least 15)
    --modules LIST  comma-separated, from: kyso, opensc (Debian's OpenSC
                    with the system's opensc.conf: its defaults, file
                    cache off), opensc-nocache (the same with
                    use_file_caching = no in a private opensc.conf),
                    opensc-cache (OpenSC with its file cache on and warm)
                    (default: kyso,opensc)
    --scenarios LIST  comma-separated scenario names (default: all)
    --no-cost       skip the second table (callgrind, CPU time)
    --trace         also print the APDUs (by INS) each module sent
    --trace-apdus   also print every APDU of the first run: instruction,
                    PIV object, command and response length, status word
    --smoke         one run of the cold and warm starts and the issue-3
                    login + sign scenarios through kyso and OpenSC, and of
                    the ePass2003 cold starts and PKCS#15 login + sign;
                    fail on any wrong answer (OpenSC must also say "token
                    not recognized" for the vendor layout), or unless kyso
                    needs no more APDUs than OpenSC in each asserted
                    scenario and login + ECDSA is exactly VERIFY + GENERAL
                    AUTHENTICATE. Exit 0 pass, 1 fail, 77 skip.

Goals are reported, never asserted: speed belongs to the benchmark, not to
a test. Must run as root (the rig's private pcscd needs a mount namespace),
with Debian's /usr/bin/python3.
"""

import argparse
import ctypes
import json
import os
import re
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
EP_PIN = '12345678'     # the virtual ePass2003's user PIN, both layouts
CHILD_TIMEOUT = 60.0
# pcsclite.h
SCARD_SCOPE_SYSTEM = 2
SCARD_SHARE_SHARED = 2
SCARD_PROTOCOL_ANY = 3
SCARD_RESET_CARD = 1
EXIT_SKIP = 77


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description='kyso against OpenSC on the same virtual cards')
    ap.add_argument('--build', default=os.environ.get(
        'KYSO_BUILD_DIR', os.path.join(SOURCE_DIR, 'build')))
    ap.add_argument('--runs', type=int, default=7)
    ap.add_argument('--modules', default='kyso,opensc')
    ap.add_argument('--scenarios', default='')
    ap.add_argument('--trace', action='store_true')
    ap.add_argument('--trace-apdus', action='store_true')
    ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--no-cost', action='store_true')
    args = ap.parse_args(argv)
    if args.smoke:
        args.runs = 1
        args.modules = 'kyso,opensc'
        args.no_cost = True
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
import ep_prep  # noqa: E402
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


def bound_warm_start(facts):
    """A start that may serve the certificates from a cache but must
    never serve a changed one (issue 8): SELECT; the Key History again
    (a retired slot may have gained a certificate); and, since a PIV card
    keeps no record of when its content changed, one APDU per certificate
    container: its first response piece, whose certificate length,
    serial number and issuer tell it from any other certificate (RFC
    5280, 4.1.2.2). docs/performance.md says why nothing less will do."""
    hist = facts['lengths'][piv_prep.TAG_KEY_HISTORY]
    parts = [('SELECT', 1),
             ('Key History', piv_prep.short_responses(hist))]
    for slot, tag in sorted(piv_prep.CERT_TAGS.items()):
        parts.append(('cert %02X first piece' % slot, 1))
    return parts


def bound_sign_many(per_signature, count):
    def bound(facts):
        (what, n), = per_signature(facts)[-1:]
        return [('VERIFY', 1), ('%s x%d' % (what, count), n * count)]
    return bound


def bound_threads(count):
    def bound(facts):
        return [('GENERAL AUTHENTICATE x%d' % count,
                 ga_sign_apdus(32, 72) * count)]
    return bound


def bound_four_readers(facts):
    # facts: one entry per card, in reader order.
    return [('card %d cold start' % i,
             sum(n for _, n in bound_cold_start(f)))
            for i, f in enumerate(facts)]


# --------------------------------------------------------------- scenarios

class Scenario:
    def __init__(self, name, title, card, client, bound, check,
                 key_id=None, issue3=False, goal=None, count=1, threads=1,
                 warm=False, smoke=None, interleave=None, min_runs=1,
                 pin=PIN, unrecognized_by=(), cold=None, smoke_assert=True):
        self.name = name
        self.title = title
        self.card = card            # a key of CARD_LAYOUTS
        self.client = client        # bench_client.py --scenario
        self.bound = bound          # facts -> [(what, APDUs)]
        self.check = check          # result -> error message or None
        self.key_id = key_id        # hex, or facts -> hex
        self.issue3 = issue3        # part of issue 3's acceptance
        self.goal = goal            # (row, rows) -> 'met', 'not met' or ''
        self.count = count          # signatures (--count)
        self.threads = threads      # signing threads (--threads)
        self.warm = warm            # measured right after a cold start,
        #                             in a second process, same cache
        self.smoke = issue3 if smoke is None else smoke     # in --smoke
        self.min_runs = min_runs        # at least this many runs
        self.interleave = interleave    # runs interleaved with the others
        #                                 of the same name, same card
        self.pin = pin
        # Modules that do not recognise the card: a listing must show no
        # token (checked); a scenario that needs a key is not run.
        self.unrecognized_by = unrecognized_by
        self.cold = cold            # the cold start before a warm one
        # In --smoke: fail unless kyso needs no more APDUs than OpenSC
        # (False: run, its errors fail, the counts are only printed).
        self.smoke_assert = smoke_assert

    def unrecognized(self, module):
        return module.name in self.unrecognized_by

    def key_id_for(self, facts):
        return self.key_id(facts) if callable(self.key_id) else self.key_id


def check_cold_start(res):
    if res.get('tokens') != 1:
        return 'the module showed %s tokens, not 1' % res.get('tokens')
    certs = res.get('objects', {}).get('cert', 0)
    if certs != 4:
        return 'the module listed %d certificates, not 4' % certs
    return None


def check_ep_listing(certs):
    """The ePass2003 token listed: one token, its certificates."""
    def check(res):
        if res.get('tokens') != 1:
            return 'the module showed %s tokens, not 1' % res.get('tokens')
        got = res.get('objects', {}).get('cert', 0)
        if got != certs:
            return 'the module listed %d certificates, not %d' % (got, certs)
        return None
    return check


def check_unrecognized(res):
    """A module that does not read the card: the slot's token is not
    recognised (CKR_TOKEN_NOT_RECOGNIZED), no token, no object."""
    if res.get('tokens') != 0 or res.get('objects'):
        return ('the module listed %s tokens and objects %s on a card it '
                'is said not to recognise' % (res.get('tokens'),
                                              res.get('objects')))
    if res.get('unrecognized') != 1:
        return 'no slot with a token not recognised'
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


def check_four_readers(res):
    if res.get('tokens') != 4:
        return 'the module showed %s tokens, not 4' % res.get('tokens')
    certs = res.get('objects', {}).get('cert', 0)
    if certs != 16:
        return 'the module listed %d certificates, not 16' % certs
    return None


def check_threads(res):
    if res.get('key_type') != 'ec':
        return 'signed with a %s key, not ec' % res.get('key_type')
    # Errors are counted and reported (the goal column), not a failed run;
    # but every signature a thread got must verify.
    for data, sig in res.get('samples', []):
        err = verify_signature({'key_type': 'ec', 'cert': res['cert'],
                                'data': data, 'signature': sig})
        if err:
            return err
    if not res.get('samples') and not res.get('errors'):
        return 'no signature at all'
    return None


# Goals (issue 8), reported in the table and never asserted. A goal is
# kyso's; the absolute ones are shown for every module, for comparison.

def _met(ok):
    return 'met' if ok else 'not met'


def goal_half_of_opensc(row, rows):
    if row.module.name.startswith('opensc') or row.apdu_max is None:
        return ''
    ref = [r for r in rows if r.scenario is row.scenario
           and r.module.name in ('opensc', 'opensc-nocache')
           and not row.scenario.unrecognized(r.module)
           and r.apdu_min is not None]
    if not ref:
        return ''
    return _met(2 * row.apdu_max <= ref[0].apdu_min)


def goal_at_most(n):
    def goal(row, rows):
        if row.apdu_max is None:
            return ''
        return _met(row.apdu_max <= n)
    return goal


def goal_protocol_minimum(row, rows):
    if row.apdu_max is None:
        return ''
    return _met(row.apdu_max <= row.bound_total)


def goal_threads(row, rows):
    ratio = row.thread_ratio
    if ratio is None:
        return ''
    return _met(row.thread_errors == 0 and ratio >= 0.9)


THREAD_SIGNATURES = 320
# The throughput of a shared 2-core machine varies from run to run by more
# than the 10% the goal allows: more pairs of runs than the default 7.
THREAD_RUNS = 15

SCENARIOS = [
    Scenario('cold-start', 'cold start to all objects and attributes',
             'demo', 'cold_start', bound_cold_start, check_cold_start,
             issue3=True, goal=goal_half_of_opensc),
    Scenario('warm-start', 'the same, a second process right after it',
             'demo', 'cold_start', bound_warm_start, check_cold_start,
             goal=goal_at_most(3), warm=True, smoke=True),
    Scenario('login-ecdsa-p256', 'login + 1 ECDSA P-256 signature (9A)',
             'ec9a', 'login_sign', bound_login_ecdsa_p256,
             check_signature('ec', False), key_id='01', issue3=True,
             goal=goal_protocol_minimum),
    Scenario('login-rsa2048', 'login + 1 RSA-2048 PKCS#1 signature (9A)',
             'demo', 'login_sign', bound_login_rsa2048,
             check_signature('rsa', False), key_id='01', issue3=True,
             goal=goal_protocol_minimum),
    Scenario('login-ecdsa-9c', 'login + 1 ECDSA P-256 signature (9C, '
             'PIN always)', 'demo', 'login_sign', bound_login_ecdsa_9c,
             check_signature('ec', True), key_id='02',
             goal=goal_protocol_minimum),
    Scenario('sign100-ecdsa-p256', 'login + 100 ECDSA P-256 signatures, '
             'one session', 'ec9a', 'login_sign',
             bound_sign_many(bound_login_ecdsa_p256, 100),
             check_signature('ec', False), key_id='01', count=100,
             goal=goal_protocol_minimum),
    Scenario('sign100-rsa2048', 'login + 100 RSA-2048 signatures, '
             'one session', 'demo', 'login_sign',
             bound_sign_many(bound_login_rsa2048, 100),
             check_signature('rsa', False), key_id='01', count=100,
             goal=goal_protocol_minimum),
    Scenario('unknown-card', 'unknown card: C_Initialize + C_GetSlotList',
             'unknown', 'unknown_card', bound_unknown, check_unknown,
             goal=goal_at_most(5)),
    Scenario('four-readers', 'cold start with four PIV cards in four '
             'readers', 'four', 'cold_start', bound_four_readers,
             check_four_readers, goal=goal_half_of_opensc),
    Scenario('threads-1', '%d ECDSA signatures, 1 thread, logged in'
             % THREAD_SIGNATURES, 'ec9a', 'threads',
             bound_threads(THREAD_SIGNATURES), check_threads, key_id='01',
             count=THREAD_SIGNATURES, threads=1, interleave='threads',
             min_runs=THREAD_RUNS),
    Scenario('threads-8', '%d ECDSA signatures, 8 threads, one session '
             'each' % THREAD_SIGNATURES, 'ec9a', 'threads',
             bound_threads(THREAD_SIGNATURES), check_threads, key_id='01',
             count=THREAD_SIGNATURES, threads=8, goal=goal_threads,
             interleave='threads', min_runs=THREAD_RUNS),
]
COLD_START = SCENARIOS[0]


# The Feitian ePass2003 (issue 4), both layouts of the virtual token:
# 'ep15' as OpenSC's pkcs15-init leaves it, which OpenSC reads; 'epv',
# Feitian's vendor layout (ENTERSAFE-ESPK), which OpenSC 0.23 reports as
# "token not recognized". The key signed with: the first certificate's.
def _ep_key_id(facts):
    return facts['key_id']


def _ep_scenarios(card, layout, certs, unrecognized):
    cold = Scenario(
        '%s-cold-start' % card, 'ePass2003 (%s): cold start to all '
        'objects and attributes' % layout, card, 'cold_start',
        ep_prep.bound_cold_start, check_ep_listing(certs),
        goal=None if unrecognized else goal_half_of_opensc, smoke=True,
        unrecognized_by=unrecognized)
    return [
        cold,
        Scenario('%s-warm-start' % card, 'ePass2003 (%s): the same, a '
                 'second process right after it' % layout, card,
                 'cold_start', ep_prep.bound_warm_start,
                 check_ep_listing(certs), goal=goal_at_most(3), warm=True,
                 unrecognized_by=unrecognized, cold=cold),
        Scenario('%s-login-rsa2048' % card, 'ePass2003 (%s): login + 1 '
                 'RSA-2048 PKCS#1 signature' % layout, card, 'login_sign',
                 ep_prep.bound_login_sign, check_signature('rsa', False),
                 key_id=_ep_key_id, pin=EP_PIN, goal=goal_protocol_minimum,
                 smoke=not unrecognized, unrecognized_by=unrecognized),
        Scenario('%s-sign100-rsa2048' % card, 'ePass2003 (%s): login + '
                 '100 RSA-2048 signatures, one session' % layout, card,
                 'login_sign', ep_prep.bound_sign_many(100),
                 check_signature('rsa', False), key_id=_ep_key_id,
                 pin=EP_PIN, count=100, goal=goal_protocol_minimum,
                 unrecognized_by=unrecognized),
    ]


OPENSC_NAMES = ('opensc', 'opensc-nocache', 'opensc-cache')
SCENARIOS += _ep_scenarios('ep15', 'PKCS#15', 1, ())
SCENARIOS += _ep_scenarios('epv', 'vendor layout', 2, OPENSC_NAMES)


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
        elif name in ('opensc-nocache', 'opensc-cache'):
            conf = os.path.join(workdir, name + '.conf')
            with open(conf, 'w') as f:
                f.write(OPENSC_CACHE_CONF if name == 'opensc-cache'
                        else OPENSC_NO_CACHE_CONF)
            env['OPENSC_CONF'] = conf
            mods.append(ModuleUnderTest(
                name, OPENSC_MODULE, env, keep_cache=name == 'opensc-cache',
                note='file cache on, warm' if name == 'opensc-cache'
                else 'use_file_caching = no in a private opensc.conf'))
        elif name == 'opensc':
            mods.append(ModuleUnderTest(
                name, OPENSC_MODULE, env,
                note='Debian\'s OpenSC with the system opensc.conf: its '
                'defaults, file cache off (use_file_caching defaults to no)'))
        else:
            raise SystemExit('unknown module %r' % name)
    return mods


# ------------------------------------------------------------------- cards

# Which card state goes in which reader, per scenario card. 'demo1' to
# 'demo3' are demo cards of their own (own keys, own serial numbers).
CARD_LAYOUTS = {
    'demo': {0: 'demo'},
    'ec9a': {0: 'ec9a'},
    'unknown': {0: 'unknown'},
    'four': {0: 'demo', 1: 'demo1', 2: 'demo2', 3: 'demo3'},
    'ep15': {0: 'ep15'},
    'epv': {0: 'epv'},
}
# Card states that are not PIV cards: (kyso-vcard --type, --provision).
EP_STATES = {'ep15': ('epass2003', 'pkcs15'), 'epv': ('epass2003', 'vendor')}
READERS = 4


class Bench:
    """The rig, cards in readers 0-3 each behind its own byte-counting
    tap, and the card states the scenarios need."""

    def __init__(self, r, workdir):
        self.rig = r
        self.workdir = workdir
        self.taps = [VpcdTap(r.port(i)) for i in range(READERS)]
        self.cards = {}             # reader -> Card
        self.loaded = {}            # reader -> state name
        self.kind = None
        self.facts = {}

    def state_path(self, name):
        return os.path.join(self.workdir, name + '.state')

    def close(self):
        for card in self.cards.values():
            card.stop()
        self.cards.clear()
        for tap in self.taps:
            tap.close()

    def _stop(self, reader):
        card = self.cards.pop(reader, None)
        self.loaded.pop(reader, None)
        if card is not None:
            card.stop()

    def _load(self, reader, state, provision=None):
        if self.loaded.get(reader) == state and provision is None:
            return
        self._stop(reader)
        # The card connects to the tap, which relays to the reader: the
        # last --port wins in kyso-vcard's getopt_long.
        extra = ['--port', str(self.taps[reader].port)]
        if state == 'unknown':
            card = self.rig.start_card(reader, 'unknown', extra_args=extra,
                                       timeout=30)
        elif state in EP_STATES:
            card = self.rig.start_card(reader, EP_STATES[state][0],
                                       state=self.state_path(state),
                                       provision=provision, extra_args=extra,
                                       timeout=60)
        else:
            card = self.rig.start_card(reader, 'piv',
                                       state=self.state_path(state),
                                       provision=provision, extra_args=extra,
                                       timeout=30)
        self.cards[reader] = card
        self.loaded[reader] = state

    def use(self, kind):
        if kind == self.kind:
            return
        layout = CARD_LAYOUTS[kind]
        for reader in list(self.cards):
            if layout.get(reader) != self.loaded.get(reader):
                self._stop(reader)
        for reader, state in sorted(layout.items()):
            self._load(reader, state)
        self.kind = kind

    @property
    def readers(self):
        return sorted(self.cards)

    def prepare(self, kinds):
        """Create the card states: the demo card, a copy of it whose 9A
        key is EC P-256, three more demo cards. Measure what the lower
        bounds need."""
        if kinds & {'demo', 'ec9a', 'four'}:
            self._load(0, 'demo', provision='demo')
            self._measure(0, 'demo')
        if 'ec9a' in kinds:
            self._stop(0)
            shutil.copyfile(self.state_path('demo'), self.state_path('ec9a'))
            self._load(0, 'ec9a')
            piv_prep.import_p256_in_9a(self.rig, 0, self.workdir)
            self._measure(0, 'ec9a')
        if 'four' in kinds:
            for reader in (1, 2, 3):
                name = 'demo%d' % reader
                self._load(reader, name, provision='demo')
                self._measure(reader, name)
            self.facts['four'] = [self.facts[CARD_LAYOUTS['four'][i]]
                                  for i in range(READERS)]
        for kind, facts in (('ep15', ep_prep.facts_pkcs15),
                            ('epv', ep_prep.facts_vendor)):
            if kind in kinds:
                self._load(0, kind, provision=EP_STATES[kind][1])
                self.facts[kind] = facts(self.state_path(kind))
        self.facts['unknown'] = {}
        self.kind = None

    def _measure(self, reader, name):
        tags = [piv_prep.TAG_KEY_HISTORY] + list(piv_prep.CERT_TAGS.values())
        self.facts[name] = {
            'lengths': piv_prep.object_lengths(self.rig, reader, tags)}

    def reset_cards(self):
        """Reset every card in use (SCardDisconnect with
        SCARD_RESET_CARD), so that every run starts from the state a
        browser meets: nothing selected, no PIN verified. Left alone, the
        state would depend on the previous run and on timing: pcscd powers
        an unused card off only some half a second after the last client
        lets go (measured with this rig), so a run that follows quickly
        finds the PIV application still selected, and OpenSC then skips
        its SELECT."""
        lib = rig.Pcsc().lib
        ctx = ctypes.c_long()
        rv = lib.SCardEstablishContext(SCARD_SCOPE_SYSTEM, None, None,
                                       ctypes.byref(ctx)) & 0xFFFFFFFF
        if rv != 0:
            rig.fail('SCardEstablishContext: 0x%08X' % rv)
        try:
            for reader in self.readers:
                handle = ctypes.c_long()
                proto = ctypes.c_ulong()
                rv = lib.SCardConnect(ctx,
                                      self.rig.reader_name(reader).encode(),
                                      SCARD_SHARE_SHARED, SCARD_PROTOCOL_ANY,
                                      ctypes.byref(handle),
                                      ctypes.byref(proto)) & 0xFFFFFFFF
                if rv != 0:
                    rig.fail('SCardConnect: 0x%08X' % rv)
                rv = lib.SCardDisconnect(handle.value,
                                         SCARD_RESET_CARD) & 0xFFFFFFFF
                if rv != 0:
                    rig.fail('SCardDisconnect(SCARD_RESET_CARD): 0x%08X'
                             % rv)
        finally:
            lib.SCardReleaseContext(ctx)

    def snapshot(self):
        """{reader: (the card's APDU count, the tap's counters)}."""
        return {i: (self.cards[i].apdu_count(), self.taps[i].counters())
                for i in self.readers}

    def round_trip(self, n=200):
        """Seconds per APDU round trip through pcscd, vpcd, the tap and
        kyso-vcard, from this process: n small GET DATA (Discovery
        object) in one connection, less the time of the connection."""
        sel = piv_prep.SELECT_PIV
        get = bytes.fromhex('00CB3FFF035C017E00')
        name = self.rig.reader_name(0)
        pcsc = rig.Pcsc()
        best = None
        for _ in range(3):
            t0 = time.perf_counter()
            pcsc.transmit(name, [sel])
            t1 = time.perf_counter()
            pcsc.transmit(name, [sel] + [get] * n)
            t2 = time.perf_counter()
            one = ((t2 - t1) - (t1 - t0)) / n
            best = one if best is None else min(best, one)
        return best


# -------------------------------------------------------------- one run

class RunResult:
    def __init__(self):
        self.apdus = None
        self.bytes = None
        self.trace = []
        self.elapsed = None
        self.result = {}
        self.error = None
        self.thread_errors = 0


def measure(bench, scenario, module):
    """One measured run of `scenario` through `module`: a RunResult.
    Every run gets a fresh XDG_CACHE_HOME, so that a cold start is cold
    whatever the module caches; a warm start first makes an unmeasured
    cold start in a process of its own with the same XDG_CACHE_HOME. A
    module that keeps its cache (opensc-cache) has one per card layout:
    OpenSC keys its file cache by the card's serial, which the two PIV
    states share, and would serve the demo card's 9A certificate for the
    other's."""
    if module.keep_cache:
        cache = module.env['XDG_CACHE_HOME'] + '-' + bench.kind
        os.makedirs(cache, exist_ok=True)
    else:
        cache = tempfile.mkdtemp(prefix='xdg-cache-',
                                 dir=module.env['XDG_CACHE_HOME'])
    try:
        cold = None
        if scenario.warm:
            cold = run_client(bench, scenario.cold or COLD_START, module,
                              cache)
            if cold.error is not None:
                cold.error = 'the cold start before it: ' + cold.error
                return cold
        out = run_client(bench, scenario, module, cache)
        if (cold is not None and out.error is None
                and out.result.get('certs_sha256')
                != cold.result.get('certs_sha256')):
            out.error = ('the warm start listed other certificates than '
                         'the cold start before it')
        return out
    finally:
        if not module.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)


def runnable(scenario, module):
    """A module that does not recognise the card is run in the listing
    scenarios (it must show no token) but has no key to sign with."""
    return not (scenario.unrecognized(module)
                and scenario.client != 'cold_start')


def run_client(bench, scenario, module, cache):
    """One fresh client process: returns a RunResult."""
    out = RunResult()
    bench.reset_cards()
    env = dict(bench.rig.env)
    for k in ('KYSO_DEBUG', 'KYSO_DEBUG_FILE', 'OPENSC_DEBUG', 'OPENSC_CONF',
              'KYSO_CONF'):
        env.pop(k, None)
    env.update(module.env)
    env['XDG_CACHE_HOME'] = cache
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    cmd = [sys.executable, CLIENT, '--module', module.path,
           '--scenario', scenario.client, '--pin', scenario.pin,
           '--count', str(scenario.count),
           '--threads', str(scenario.threads),
           '--ctl-in', str(to_child_r), '--ctl-out', str(from_child_w)]
    key_id = scenario.key_id_for(bench.facts.get(scenario.card))
    if key_id:
        cmd += ['--key-id', key_id]
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
        out.apdus = 0
        out.bytes = 0
        tap_apdus = 0
        for reader in sorted(marks['begin']):
            c0, t0 = marks['begin'][reader]
            c1, t1 = marks['end'][reader]
            window = t1.since(t0)
            out.apdus += c1 - c0
            out.bytes += window.bytes
            out.trace += window.trace
            tap_apdus += window.apdus
        if tap_apdus != out.apdus:
            out.error = ('the cards counted %d APDUs, the taps %d'
                         % (out.apdus, tap_apdus))
        out.elapsed = out.result.get('elapsed')
        out.thread_errors = out.result.get('errors', 0)
        if out.error is None:
            check = (check_unrecognized if scenario.unrecognized(module)
                     else scenario.check)
            out.error = check(out.result)
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
    # ePass2003 (FTCOS): the SM handshake and the PIN's external
    # authentication; under SM the INS stays readable, the data does not.
    0x50: 'INITIALIZE UPDATE', 0x82: 'EXTERNAL AUTHENTICATE',
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
    """APDUs by INS, repeats folded: 'SELECT, GET DATA x3', and a
    repeated group of up to four: '(GENERAL AUTHENTICATE x2, GET RESPONSE)
    x100'."""
    items = []
    for a in trace:
        name = apdu_name(a)
        if items and items[-1][0] == name:
            items[-1][1] += 1
        else:
            items.append([name, 1])
    words = [n if c == 1 else '%s x%d' % (n, c) for n, c in items]
    out = []
    i = 0
    while i < len(words):
        best_k, best_reps = 1, 1
        for k in range(2, len(words) // 2 + 1):
            reps = 1
            while words[i + reps * k:i + (reps + 1) * k] == words[i:i + k]:
                reps += 1
            if reps > 1 and reps * k > best_reps * best_k:
                best_k, best_reps = k, reps
        if best_reps > 1:
            out.append('(%s) x%d' % (', '.join(words[i:i + best_k]),
                                     best_reps))
            i += best_k * best_reps
        else:
            out.append(words[i])
            i += 1
    return ', '.join(out)


class Row:
    def __init__(self, scenario, module, runs, bound):
        self.scenario = scenario
        self.module = module
        self.runs = runs
        self.bound = bound
        self.goal = ''

    @property
    def ok_runs(self):
        return [r for r in self.runs if r.error is None]

    @property
    def errors(self):
        return [r.error for r in self.runs if r.error is not None]

    @property
    def bound_total(self):
        return sum(n for _, n in self.bound)

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

    @property
    def apdu_max(self):
        a = self.apdus
        return a[1] if isinstance(a, tuple) else a

    @property
    def elapsed(self):
        ok = self.ok_runs
        return statistics.median(r.elapsed for r in ok) if ok else None

    @property
    def throughput(self):
        """Signatures per second (median run), for the signing rows."""
        if self.elapsed is None or self.scenario.client == 'cold_start' \
                or self.scenario.client == 'unknown_card':
            return None
        return self.scenario.count / self.elapsed

    @property
    def thread_ratio(self):
        """Throughput against the same module's one thread: the median,
        over the runs, of this run's throughput over that of the 1-thread
        run made just before it (the runs are interleaved, so a pair
        shares the machine's load)."""
        if self.scenario.client != 'threads' or self.scenario.threads == 1:
            return None
        one = [r for r in self.all_rows if r.module is self.module
               and r.scenario.client == 'threads'
               and r.scenario.threads == 1]
        if not one:
            return None
        pairs = [(a.elapsed, b.elapsed) for a, b in zip(self.runs, one[0].runs)
                 if a.error is None and b.error is None]
        if not pairs:
            return None
        return statistics.median(b / a for a, b in pairs)

    @property
    def thread_errors(self):
        return sum(r.thread_errors for r in self.ok_runs)

    def note(self):
        ok = self.ok_runs
        notes = []
        if self.scenario.unrecognized(self.module):
            return ('token not recognized: no token, no objects'
                    if runnable(self.scenario, self.module)
                    else 'token not recognized: no key to sign with')
        if len(ok) != len(self.runs):
            notes.append('%d/%d runs failed' % (len(self.runs) - len(ok),
                                                len(self.runs)))
        if ok and self.scenario.client == 'threads':
            notes.append('%.0f sig/s' % self.throughput)
            if self.thread_ratio is not None:
                notes.append('%.1f%% of 1 thread'
                             % (100.0 * self.thread_ratio))
            notes.append('%d errors' % self.thread_errors)
        elif ok and self.scenario.count > 1:
            notes.append('%.2f ms/signature'
                         % (1000.0 * self.elapsed / self.scenario.count))
        return ', '.join(notes)

    def cells(self):
        ok = self.ok_runs
        bound_n = self.bound_total
        if not self.runs and not runnable(self.scenario, self.module):
            return [self.scenario.name, self.module.name, '-', '-',
                    str(bound_n), '-', '-', '', self.note()]
        if not ok:
            return [self.scenario.name, self.module.name, 'FAILED', '',
                    str(bound_n), '', '', self.goal, self.note()]
        a = self.apdus
        apdus = ('%d-%d' % a) if isinstance(a, tuple) else str(a)
        # ECDSA signatures vary by a byte or two (DER): the median.
        nbytes = '%d' % statistics.median_low(r.bytes for r in ok)
        ratio = '%.2f' % (self.apdu_min / bound_n) if bound_n else '-'
        if self.scenario.unrecognized(self.module):
            ratio = '-'     # the bound is for listing the token
        return [self.scenario.name, self.module.name, apdus, nbytes,
                str(bound_n), ratio, '%.1f' % (self.elapsed * 1000.0),
                self.goal, self.note()]


HEADER = ['scenario', 'module', 'APDUs', 'bytes', 'bound', 'ratio',
          'time ms', 'goal', 'note']


def print_table(rows, header=HEADER, right=(2, 3, 4, 5, 6)):
    table = [header] + [r.cells() if isinstance(r, Row) else r
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

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
    print('\nLower bounds (APDUs as the card takes them: short ones for PIV; '
          'the ePass2003\nPSO is one extended APDU):')
    for s in scenarios:
        parts = s.bound(facts[s.card])
        print('  %-20s %3d = %s' % (s.name, sum(n for _, n in parts),
                                    ' + '.join('%s %d' % (w, n)
                                               for w, n in parts)))


def print_traces(rows):
    print('\nAPDUs sent (first run), by INS:')
    for row in rows:
        ok = row.ok_runs
        if ok:
            print('  %-20s %-7s %s' % (row.scenario.name, row.module.name,
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


# ------------------------------------------------------- the module's cost

COST_PROGRAM = 'kyso-bench-cost'
# (what, card layout, kyso-bench-cost arguments after the module)
COST_OPERATIONS = [
    ('token listing', 'demo', ['list']),
    ('ECDSA P-256 signature', 'ec9a', ['sign', PIN, '01']),
    ('RSA-2048 signature', 'demo', ['sign', PIN, '01']),
    # Secure messaging: every APDU encrypted and MACed (AES), the PIN by
    # external authentication, the PKCS#1 padding on the host.
    ('ePass2003 RSA-2048 sig. (PKCS#15)', 'ep15',
     ['sign', EP_PIN, _ep_key_id]),
    ('ePass2003 RSA-2048 sig. (vendor)', 'epv',
     ['sign', EP_PIN, _ep_key_id]),
]
COST_NATIVE_SIGNATURES = 200
COST_CALLGRIND_SIGNATURES = 20
COST_NATIVE_LISTINGS = 5
COST_ERRORS = []
_CALLGRIND_TOTALS = re.compile(r'^(?:totals|summary):\s+(\d+)', re.M)


def _cost_env(bench, module, cache):
    env = dict(bench.rig.env)
    for k in ('KYSO_DEBUG', 'KYSO_DEBUG_FILE', 'OPENSC_DEBUG', 'OPENSC_CONF',
              'KYSO_CONF', 'LD_PRELOAD'):
        env.pop(k, None)
    env.update(module.env)
    env['XDG_CACHE_HOME'] = cache
    return env


def _cost_run(bench, program, module, args, count, callgrind=None):
    """One kyso-bench-cost process, in a fresh XDG_CACHE_HOME, the cards
    reset: its output as a dict, or raises rig.TestFailure."""
    cache = tempfile.mkdtemp(prefix='xdg-cache-',
                             dir=module.env['XDG_CACHE_HOME'])
    try:
        env = _cost_env(bench, module, cache)
        cmd = [program, module.path] + args
        if args[0] == 'sign':
            cmd.append(str(count))
        if callgrind is not None:
            out = os.path.join(cache, 'callgrind.out')
            fn = 'bench_list' if args[0] == 'list' else 'bench_sign'
            cmd = ['valgrind', '--tool=callgrind', '--collect-atstart=no',
                   '--toggle-collect=' + fn, '--callgrind-out-file=' + out,
                   ] + cmd
        bench.reset_cards()
        p = rig.run(cmd, env=env, timeout=600)
        if p.returncode != 0:
            rig.fail('%s: %s' % (' '.join(cmd[-len(args) - 2:]),
                                 p.describe()[-600:]))
        vals = dict(kv.split('=', 1) for kv in p.stdout.split() if '=' in kv)
        if callgrind is not None:
            with open(out) as f:
                m = _CALLGRIND_TOTALS.search(f.read())
            if not m:
                rig.fail('no totals in the callgrind output')
            vals['instructions'] = m.group(1)
        return vals
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def module_cost(bench, modules, build):
    """Rows of the second table: per operation and module, the module's own
    work (instructions under callgrind, CPU time natively), next to one
    APDU round trip. (None, why) when it cannot be measured here."""
    program = os.path.join(build, 'tests', 'bench', COST_PROGRAM)
    if not os.access(program, os.X_OK):
        return None, '%s is not built' % program
    if not shutil.which('valgrind'):
        return None, 'valgrind is not installed'
    rows = []
    for what, kind, args in COST_OPERATIONS:
        bench.use(kind)
        args = [a(bench.facts[kind]) if callable(a) else a for a in args]
        rtt = bench.round_trip()
        done = set()
        for m in modules:
            # One row per module file and configuration that differs.
            if m.keep_cache or m.path in done:
                continue
            done.add(m.path)
            if kind == 'epv' and m.name in OPENSC_NAMES:
                rows.append([what, m.name, 'token not recognized', '', '',
                             '', ''])
                continue
            try:
                if args[0] == 'list':
                    native = [_cost_run(bench, program, m, args, 1)
                              for _ in range(COST_NATIVE_LISTINGS)]
                    cpu = statistics.median(int(v['cpu_ns'])
                                            for v in native)
                    wall = statistics.median(int(v['wall_ns'])
                                             for v in native)
                    n = 1
                else:
                    v = _cost_run(bench, program, m, args,
                                  COST_NATIVE_SIGNATURES)
                    cpu, wall = int(v['cpu_ns']), int(v['wall_ns'])
                    n = COST_CALLGRIND_SIGNATURES
                cg = _cost_run(bench, program, m, args, n, callgrind=True)
            except rig.TestFailure as e:
                rows.append([what, m.name, 'FAILED', '', '', '', ''])
                COST_ERRORS.append('%s with %s: %s' % (what, m.name, e))
                continue
            instr = int(cg['instructions']) / n
            rows.append([what, m.name, '%.0f' % instr, '%.0f' % (cpu / 1e3),
                         '%.2f' % (wall / 1e6), '%.0f' % (rtt * 1e6),
                         '%.1f' % (cpu / 1e3 / (rtt * 1e6))])
    return rows, None


COST_HEADER = ['operation', 'module', 'instructions', 'CPU us', 'wall ms',
               'APDU RTT us', 'CPU / RTT']


# -------------------------------------------------------------------- main

def smoke_check(rows):
    """The assertions of --smoke: counts, never time."""
    problems = []
    by = {(r.scenario.name, r.module.name): r for r in rows}
    for (name, mod), row in sorted(by.items()):
        for e in row.errors:
            problems.append('%s with %s: %s' % (name, mod, e))
    for s in SCENARIOS:
        if not s.smoke:
            continue
        k, o = by.get((s.name, 'kyso')), by.get((s.name, 'opensc'))
        if k is None or o is None or k.apdus is None or o.apdus is None:
            continue
        if s.unrecognized(o.module):
            continue        # checked: OpenSC shows no token
        if not s.smoke_assert:
            print('note: %s: kyso %s APDUs, OpenSC %s (not asserted)'
                  % (s.name, k.apdus, o.apdus))
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
        args.no_cost = True
    wanted = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    known = {s.name for s in SCENARIOS}
    for w in wanted:
        if w not in known:
            raise SystemExit('unknown scenario %r (known: %s)'
                             % (w, ', '.join(sorted(known))))
    scenarios = [s for s in SCENARIOS
                 if (not wanted or s.name in wanted)
                 and (not args.smoke or s.smoke)]
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
    cost_rows, cost_skip = None, 'not asked for'
    try:
        modules = make_modules(names, workdir, os.path.abspath(args.build))
        for m in modules:
            if not os.path.exists(m.path):
                print('FAIL: %s is not there' % m.path, file=sys.stderr)
                return 1
        with rig.Rig(readers=READERS) as r:
            bench = Bench(r, workdir)
            try:
                kinds = {s.card for s in scenarios}
                if not args.no_cost:
                    kinds |= {k for _, k, _ in COST_OPERATIONS}
                bench.prepare(kinds)
                # Fewest card swaps: scenarios grouped by card, in order.
                order = sorted(scenarios,
                               key=lambda s: list(CARD_LAYOUTS).index(s.card))
                # Scenarios compared with each other (1 and 8 threads)
                # run interleaved, like the modules, so that the load of
                # the machine touches both alike.
                groups = []
                for s in order:
                    if (groups and s.interleave
                            and groups[-1][0].interleave == s.interleave):
                        groups[-1].append(s)
                    else:
                        groups.append([s])
                for group in groups:
                    bench.use(group[0].card)
                    results = {(s.name, m.name): []
                               for s in group for m in modules}
                    for s in group:
                        for m in modules:
                            if m.keep_cache and runnable(s, m):
                                measure(bench, s, m)     # warm its cache
                    runs = args.runs if args.smoke else max(
                        [args.runs] + [s.min_runs for s in group])
                    for _ in range(runs):
                        for s in group:
                            for m in modules:
                                if runnable(s, m):
                                    results[(s.name, m.name)].append(
                                        measure(bench, s, m))
                    for s in group:
                        bound = s.bound(bench.facts[s.card])
                        for m in modules:
                            rows.append(Row(s, m, results[(s.name, m.name)],
                                            bound))
                            sys.stderr.write('.')
                            sys.stderr.flush()
                if not args.no_cost:
                    cost_rows, cost_skip = module_cost(
                        bench, modules, os.path.abspath(args.build))
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
    for row in rows:
        row.all_rows = rows
    for row in rows:
        row.goal = (row.scenario.goal(row, rows) if row.scenario.goal
                    and not row.scenario.unrecognized(row.module) else '')
    print('kyso benchmark: %d run(s) per scenario and module; APDUs and '
          'bytes counted at the card\nin the measured window; time = median '
          'wall time of that window.\n' % args.runs)
    print_table(rows)
    print_bounds(scenarios, facts)
    print_goals(rows)
    notes = ['%s: %s' % (m.name, m.note) for m in modules if m.note]
    if notes:
        print('\nModules: ' + '; '.join(notes))
    if cost_rows:
        print('\nThe module\'s own work, card time excluded (the card is '
              'another process): one\ntoken listing (C_Initialize to the '
              'last attribute, as cold-start) and one\nsignature (C_SignInit '
              '+ C_Sign; %d under callgrind, %d natively). instructions:\n'
              'callgrind, in the module and the libraries it calls; CPU us: '
              'the process\'s CPU\ntime natively; wall ms: the same window, '
              'card included; APDU RTT us: one\nAPDU round trip on this '
              'machine (GET DATA of the PIV Discovery object; the\nePass2003 '
              'answers the same plain APDUs 6982, as fast).\n'
              % (COST_CALLGRIND_SIGNATURES, COST_NATIVE_SIGNATURES))
        print_table(cost_rows, COST_HEADER, right=(2, 3, 4, 5, 6))
    elif not args.no_cost:
        print('\nThe module\'s own cost: skipped (%s)' % cost_skip)
    if args.trace or args.smoke:
        print_traces(rows)
    if args.trace_apdus:
        print_apdus(rows)
    failed = [(r, e) for r in rows for e in r.errors]
    failed += [(None, e) for e in COST_ERRORS]
    for r, e in failed[:10]:
        print('\nERROR %s: %s' % ('%s with %s' % (r.scenario.name,
                                                  r.module.name)
                                  if r else 'module cost', e),
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


def print_goals(rows):
    """Issue 8's goals, one line each, with kyso's figures."""
    by = {(r.scenario.name, r.module.name): r for r in rows}
    lines = []

    def apdus(name, mod='kyso'):
        r = by.get((name, mod))
        return None if r is None or r.apdu_max is None else r.apdu_max

    def goal(name):
        r = by.get((name, 'kyso'))
        return r.goal if r is not None and r.goal else None

    k, o = apdus('cold-start'), apdus('cold-start', 'opensc')
    if goal('cold-start'):
        lines.append('cold start <= 1/2 of OpenSC\'s APDUs: %d vs %d: %s'
                     % (k, o, goal('cold-start')))
    if goal('warm-start'):
        lines.append('warm start <= 3 APDUs: %d (this card\'s lower bound '
                     'for a start never served stale: %d): %s'
                     % (apdus('warm-start'),
                        by[('warm-start', 'kyso')].bound_total,
                        goal('warm-start')))
    for n in ('login-ecdsa-p256', 'login-rsa2048', 'login-ecdsa-9c',
              'sign100-ecdsa-p256', 'sign100-rsa2048'):
        if goal(n):
            lines.append('%s at the protocol minimum: %d vs %d: %s'
                         % (n, apdus(n), by[(n, 'kyso')].bound_total,
                            goal(n)))
    if goal('unknown-card'):
        lines.append('unknown card <= 5 APDUs: %d: %s'
                     % (apdus('unknown-card'), goal('unknown-card')))
    if goal('four-readers'):
        lines.append('four readers <= 1/2 of OpenSC\'s APDUs: %d vs %s: %s'
                     % (apdus('four-readers'),
                        apdus('four-readers', 'opensc'),
                        goal('four-readers')))
    for card, what in (('ep15', 'ePass2003 PKCS#15'),
                       ('epv', 'ePass2003 vendor layout')):
        n = '%s-cold-start' % card
        if goal(n):
            lines.append('%s cold start <= 1/2 of OpenSC\'s APDUs: %d vs '
                         '%d: %s' % (what, apdus(n), apdus(n, 'opensc'),
                                     goal(n)))
        elif apdus(n) is not None:
            lines.append('%s cold start: %d (bound %d); OpenSC: token not '
                         'recognized' % (what, apdus(n),
                                         by[(n, 'kyso')].bound_total))
        n = '%s-warm-start' % card
        if goal(n):
            lines.append('%s warm start <= 3 APDUs: %d (this token\'s lower '
                         'bound for a start never served stale: %d): %s'
                         % (what, apdus(n), by[(n, 'kyso')].bound_total,
                            goal(n)))
        for n in ('%s-login-rsa2048' % card, '%s-sign100-rsa2048' % card):
            if goal(n):
                lines.append('%s at the protocol minimum: %d vs %d: %s'
                             % (n, apdus(n), by[(n, 'kyso')].bound_total,
                                goal(n)))
    if goal('threads-8'):
        lines.append('8 threads: >= 90%% of 1 thread\'s throughput, no '
                     'errors: %s: %s' % (by[('threads-8', 'kyso')].note(),
                                         goal('threads-8')))
    if lines:
        print('\nGoals (issue 8), kyso:')
        for line in lines:
            print('  ' + line)


if __name__ == '__main__':
    sys.exit(main())
