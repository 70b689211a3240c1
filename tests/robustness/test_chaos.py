#!/usr/bin/python3
"""A hostile card (kyso-vcard --chaos SEED) against kyso through real
clients: for many seeds, `pkcs11-tool -O` and `pkcs11-tool --login --pin
123456 --test` against the demo PIV card whose answers are corrupted
(truncated data, bumped TLV lengths, bogus and oversized TLVs, wrong status
words, endless 61xx, answers to other commands, a silent stall). Then one
seed per fault kind, so every kind is played in every run, and an unknown
card under chaos. For every run: no crash (no signal, no sanitizer report;
in the sanitizer build the module runs under ASan and UBSan inside
pkcs11-tool), no hang (each run is bounded; a timeout fails), and every
error pkcs11-tool reports is a PKCS#11 return code.

Environment:
    KYSO_CHAOS_SEEDS       how many seeds (default 40)
    KYSO_CHAOS_FIRST_SEED  the first one (default 1)
    KYSO_CHAOS_SEED_LIST   comma-separated seeds to run instead (replay)
    KYSO_CHAOS_STALL_MS    how long the stall fault lasts (default 5000)

Replay one seed by hand (rate = RATES[seed % 4]):
    kyso-vcard --type piv --port P --state COPY --chaos SEED \
        --chaos-rate RATE   (in a reader of a private pcscd, see rig.py)
    pkcs11-tool --module kyso-pkcs11.so --login --pin 123456 --test
"""

import os
import re
import time

import robust
from robust import check, log, rig

# Low rates let the clients get deep (sign, decrypt) before a fault; high
# ones break the discovery itself. Each seed gets one.
RATES = (5, 10, 20, 40)
KINDS = ('truncate', 'cut-sw', 'tlv-length', 'bogus-tlv', 'flip', 'status',
         'empty-ok', 'endless-61', 'wrong-answer', 'stall')
RUN_TIMEOUT = 60
UNKNOWN_CARDS = 8
_SUMMARY = re.compile(r'kyso-vcard chaos: seed (\d+): (\d+) faults in (\d+) '
                      r'APDUs:(.*)$')


class Tally:
    def __init__(self):
        self.runs = 0
        self.outcomes = {}
        self.codes = {}
        self.faults = {}
        self.apdus = 0
        self.cards = 0
        self.failures = []
        self.slowest = (0.0, None)

    def outcome(self, what):
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def add_log(self, path):
        """Fault counts from the card's chaos log summary line."""
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        faults = None
        for line in lines:
            m = _SUMMARY.match(line)
            if m:
                faults = int(m.group(2))
                self.cards += 1
                self.apdus += int(m.group(3))
                for kv in m.group(4).split():
                    k, v = kv.split('=')
                    self.faults[k] = self.faults.get(k, 0) + int(v)
        return faults


def classify(res):
    """ok, ckr-error (pkcs11-tool reported a module return code),
    no-token (the token did not show up: a card the driver could not
    read), or tool-check (pkcs11-tool's own verdict, e.g. a signature
    that did not verify: a corrupted answer the module passed on)."""
    if res.returncode == 0:
        return 'ok'
    text = res.stdout + res.stderr
    if robust.tool_return_codes(text):
        return 'ckr-error'
    if 'No slots' in text or 'No slot with a token' in text or \
            'No token' in text or 'No slot' in text:
        return 'no-token'
    return 'tool-check'


def run_one(r, tally, label, args, replay):
    """One pkcs11-tool run; returns its Result, or None after recording a
    failure (crash, hang, sanitizer report, a code that is no CKR_)."""
    cmd = ['pkcs11-tool', '--module', robust.MODULE] + args
    tally.runs += 1
    try:
        res = rig.run(cmd, env=r.env, timeout=RUN_TIMEOUT)
    except rig.TestFailure as e:
        tally.failures.append('%s: hang: %s\n  replay: %s' % (label, e, replay))
        tally.outcome('hang')
        return 'hang', None
    if res.elapsed > tally.slowest[0]:
        tally.slowest = (res.elapsed, label)
    try:
        robust.check_clean_exit(res, label)
        for rv in robust.tool_return_codes(res.stdout + res.stderr):
            check(rv in robust.CKR_NAMES, '%s: pkcs11-tool reported 0x%X, '
                  'which is no PKCS#11 return code\n%s'
                  % (label, rv, res.describe()))
            name = robust.ckr_name(rv)
            tally.codes[name] = tally.codes.get(name, 0) + 1
    except rig.TestFailure as e:
        tally.failures.append('%s\n  replay: %s' % (e, replay))
        tally.outcome('crash')
        return 'crash', None
    what = classify(res)
    tally.outcome(what)
    return what, res


def chaos_card(r, tally, work, base, label, card_type, seed, rate,
               clients, kinds=None, stall_ms=None):
    """Start a chaos card, run the clients against it, stop it."""
    state = robust.fresh_state(base, os.path.join(work, 'card.state'))
    chaos_log = os.path.join(work, 'chaos-%s.log' % label)
    args = ['--chaos', seed, '--chaos-rate', rate, '--chaos-log', chaos_log]
    if kinds:
        args += ['--chaos-kinds', kinds]
    if stall_ms is not None:
        args += ['--chaos-stall-ms', stall_ms]
    shown = [str(a) for a in args if a not in (chaos_log, '--chaos-log')]
    replay = ('kyso-vcard --type %s --port P %s%s; pkcs11-tool %s'
              % (card_type, '--state COPY-OF-DEMO-STATE '
                 if card_type == 'piv' else '', ' '.join(shown),
                 ' / '.join(' '.join(c) for c in clients)))
    card = r.start_card(0, card_type, state=state if card_type == 'piv' else None,
                        extra_args=args)
    said = []
    for i, client in enumerate(clients):
        what, res = run_one(r, tally, '%s run %d (%s)'
                            % (label, i + 1, ' '.join(client)), client, replay)
        if what in ('ckr-error', 'no-token', 'tool-check'):
            # Say what it was: the figures should not hide a class of
            # outcomes behind a count.
            text = res.stdout + res.stderr
            codes = robust.tool_return_codes(text)
            if codes:
                what = robust.ckr_name(codes[0])
            else:
                last = [ln for ln in res.stderr.splitlines() if ln.strip()]
                what = '%s (%s)' % (what, last[-1] if last else
                                    'exit %d' % res.returncode)
        said.append('%s: %s' % (client[-1], what))
    if not card.running():
        tally.failures.append('%s: kyso-vcard died (status %s)\n  replay: %s'
                              % (label, card.proc.returncode, replay))
    card.stop()
    if card.proc.returncode != 0:
        tally.failures.append('%s: kyso-vcard exited with status %s\n  '
                              'replay: %s' % (label, card.proc.returncode, replay))
    faults = tally.add_log(chaos_log)
    log('%-18s rate %3d%%, %3s faults: %s' % (label, rate, faults,
                                              '; '.join(said)))
    return chaos_log


def seeds_to_run():
    listed = os.environ.get('KYSO_CHAOS_SEED_LIST')
    if listed:
        return [int(s) for s in listed.replace(' ', '').split(',') if s]
    first = robust.env_int('KYSO_CHAOS_FIRST_SEED', 1)
    count = robust.env_int('KYSO_CHAOS_SEEDS', 40)
    return list(range(first, first + count))


def test():
    rig.require_module()
    work = robust.workdir('chaos')
    stall_ms = robust.env_int('KYSO_CHAOS_STALL_MS', 5000)
    tally = Tally()
    clients = [['-O'], ['--login', '--pin', robust.PIN, '--test']]
    start = time.monotonic()
    with rig.Rig(readers=2) as r:
        base = robust.demo_state(r, work)

        # Determinism: the same seed and the same commands, the same faults.
        logs = []
        for n in range(2):
            path = chaos_card(r, tally, work, base, 'determinism-%d' % n,
                              'piv', 7, 20, [['-O']], stall_ms=0)
            with open(path) as f:
                logs.append([ln for ln in f.read().splitlines()
                             if ': apdu ' in ln])
        check(logs[0] == logs[1], 'seed 7 twice gave different faults:\n%s\n'
              '---\n%s' % ('\n'.join(logs[0]), '\n'.join(logs[1])))
        check(len(logs[0]) > 0, 'seed 7 at 20%% injected no fault')
        log('determinism: seed 7 twice, the same %d faults' % len(logs[0]))

        seeds = seeds_to_run()
        before = dict(tally.outcomes)
        for seed in seeds:
            rate = RATES[seed % len(RATES)]
            chaos_card(r, tally, work, base, 'seed-%d' % seed, 'piv', seed,
                       rate, clients, stall_ms=stall_ms)
        log('%d seeds on the demo PIV card, %d pkcs11-tool runs: %s'
            % (len(seeds), 2 * len(seeds), ', '.join(
                '%s=%d' % (k, v - before.get(k, 0))
                for k, v in sorted(tally.outcomes.items()))))

        # Every kind of fault, alone, at a rate that hits the discovery and,
        # with luck, the signatures; the stall once, at the first answer.
        for i, kind in enumerate(KINDS):
            rate = 100 if kind == 'stall' else 15
            chaos_card(r, tally, work, base, 'kind-%s' % kind, 'piv',
                       1000 + i, rate, clients, kinds=kind,
                       stall_ms=stall_ms)

        # A card no driver knows, hostile: its 6A82 become 9000, junk...
        # kyso sends it few APDUs (a SELECT per driver), so the rate is high.
        for seed in range(1, UNKNOWN_CARDS + 1):
            chaos_card(r, tally, work, base, 'unknown-%d' % seed, 'unknown',
                       seed, 60, [['-L'], ['-T'], ['-O']], stall_ms=0)

    elapsed = time.monotonic() - start
    log('chaos: %d seeds + %d single-kind cards + %d unknown cards, %d '
        'pkcs11-tool runs in %.1f s (slowest %.2f s: %s); sanitizer runtime '
        'preloaded: %s' % (len(seeds), len(KINDS), UNKNOWN_CARDS, tally.runs,
                          elapsed, tally.slowest[0], tally.slowest[1],
                          'yes' if os.environ.get('KYSO_PRELOAD') else 'no'))
    log('  outcomes: %s' % ', '.join('%s=%d' % kv for kv in
                                     sorted(tally.outcomes.items())))
    log('  cards: %d, APDUs: %d, faults injected: %d (%s)'
        % (tally.cards, tally.apdus, sum(tally.faults.values()),
           ', '.join('%s=%d' % kv for kv in sorted(tally.faults.items()))))
    log('  return codes reported: %s' % ', '.join(
        '%s=%d' % kv for kv in sorted(tally.codes.items())))
    check(not tally.failures, '%d failures:\n%s'
          % (len(tally.failures), '\n'.join(tally.failures)))
    for kind in KINDS:
        check(tally.faults.get(kind, 0) > 0, 'no %s fault was injected in '
              'this run' % kind)


if __name__ == '__main__':
    rig.main(test)
