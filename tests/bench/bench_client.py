#!/usr/bin/python3
"""One benchmark scenario, run by bench.py in a fresh process so that the
module starts cold (nothing loaded, nothing cached in memory).

    bench_client.py --module PATH --scenario NAME --ctl-in FD --ctl-out FD
                    [--key-id HEX] [--pin PIN] [--count N] [--threads N]

The parent reads the card's counters whenever the client reaches a mark:
the client writes `mark NAME` on --ctl-out and waits for `go` on --ctl-in
before going on. Marks `begin` and `end` bracket the measured window; the
client times that window itself (time.perf_counter), so the pauses for the
counters are not part of it. At the end it writes `result JSON`.
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cryptoki as ck  # noqa: E402

# The attributes NSS reads when it lists a token's certificates and keys
# (nssCryptokiCertificate_GetAttributes and the PK11_ key helpers ask for
# these), per object class.
COMMON_ATTRS = [ck.CKA_TOKEN, ck.CKA_PRIVATE, ck.CKA_ID, ck.CKA_LABEL]
CLASS_ATTRS = {
    ck.CKO_CERTIFICATE: [ck.CKA_CERTIFICATE_TYPE, ck.CKA_VALUE,
                         ck.CKA_ISSUER, ck.CKA_SUBJECT, ck.CKA_SERIAL_NUMBER,
                         ck.CKA_TRUSTED, ck.CKA_CERTIFICATE_CATEGORY],
    ck.CKO_PUBLIC_KEY: [ck.CKA_KEY_TYPE, ck.CKA_SUBJECT, ck.CKA_VERIFY,
                        ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_DERIVE],
    ck.CKO_PRIVATE_KEY: [ck.CKA_KEY_TYPE, ck.CKA_SUBJECT, ck.CKA_SIGN,
                         ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_DERIVE,
                         ck.CKA_SENSITIVE, ck.CKA_EXTRACTABLE,
                         ck.CKA_ALWAYS_AUTHENTICATE],
    # Data objects (OpenSC shows the PIV data containers as CKO_DATA):
    # what a lister shows, not their values, which NSS never reads.
    ck.CKO_DATA: [ck.CKA_APPLICATION, ck.CKA_OBJECT_ID],
}
KEY_ATTRS = {
    (ck.CKO_PUBLIC_KEY, ck.CKK_RSA): [ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT],
    (ck.CKO_PUBLIC_KEY, ck.CKK_EC): [ck.CKA_EC_PARAMS, ck.CKA_EC_POINT],
    (ck.CKO_PRIVATE_KEY, ck.CKK_RSA): [ck.CKA_MODULUS,
                                       ck.CKA_PUBLIC_EXPONENT],
    (ck.CKO_PRIVATE_KEY, ck.CKK_EC): [ck.CKA_EC_PARAMS],
}
CLASS_NAMES = {ck.CKO_DATA: 'data', ck.CKO_CERTIFICATE: 'cert',
               ck.CKO_PUBLIC_KEY: 'pubkey', ck.CKO_PRIVATE_KEY: 'privkey'}

MESSAGE = b'kyso benchmark: the data every scenario signs'
# DER of DigestInfo for SHA-256 (RFC 8017, 9.2 note 1), followed by the hash.
SHA256_DIGEST_INFO = bytes.fromhex('3031300d060960864801650304020105000420')


class Control:
    """The pipes to the parent."""

    def __init__(self, fd_in, fd_out):
        self.rd = os.fdopen(fd_in, 'r')
        self.wr = os.fdopen(fd_out, 'w')
        self.window_start = None
        self.elapsed = None

    def mark(self, name):
        self.wr.write('mark %s\n' % name)
        self.wr.flush()
        line = self.rd.readline()
        if line.strip() != 'go':
            raise SystemExit('bench_client: the parent went away at mark %s'
                             % name)

    def begin(self):
        self.mark('begin')
        self.window_start = time.perf_counter()

    def end(self):
        self.elapsed = time.perf_counter() - self.window_start
        self.mark('end')

    def result(self, payload):
        payload['elapsed'] = self.elapsed
        self.wr.write('result %s\n' % json.dumps(payload))
        self.wr.flush()


def list_everything(mod):
    """C_GetSlotList(present) -> C_GetTokenInfo -> C_OpenSession ->
    C_FindObjects(all) -> the attributes NSS reads, for every token."""
    summary = {'tokens': 0, 'objects': {}}
    cert_values = []
    for slot in mod.slot_list(True):
        mod.token_info(slot)
        summary['tokens'] += 1
        session = mod.open_session(slot)
        for obj in mod.find(session):
            cls_raw = mod.attributes(session, obj, [ck.CKA_CLASS])
            cls = ck.as_ulong(cls_raw[ck.CKA_CLASS])
            got = mod.attributes(session, obj,
                                 COMMON_ATTRS + CLASS_ATTRS.get(cls, []))
            if ck.CKA_KEY_TYPE in got:
                key_type = ck.as_ulong(got[ck.CKA_KEY_TYPE])
                more = KEY_ATTRS.get((cls, key_type))
                if more:
                    mod.attributes(session, obj, more)
            if cls == ck.CKO_CERTIFICATE:
                cert_values.append(got.get(ck.CKA_VALUE, b''))
            name = CLASS_NAMES.get(cls, 'other')
            summary['objects'][name] = summary['objects'].get(name, 0) + 1
        mod.close_session(session)
    # What the certificates were, for the parent to compare a warm start
    # (served from a cache) with the cold start before it.
    summary['certs_sha256'] = hashlib.sha256(
        b''.join(sorted(cert_values))).hexdigest()
    return summary


def unrecognized_slots(mod):
    """Slots whose card the module does not read: C_GetTokenInfo says
    CKR_TOKEN_NOT_RECOGNIZED (OpenSC on the ePass2003's vendor layout; it
    leaves such a slot out of C_GetSlotList(tokenPresent))."""
    n = 0
    for slot in mod.slot_list(False):
        try:
            mod.token_info(slot)
        except ck.P11Error as e:
            if e.rv == ck.CKR_TOKEN_NOT_RECOGNIZED:
                n += 1
    return n


def scenario_cold_start(ctl, args):
    ctl.begin()
    mod = ck.Module(args.module)
    mod.initialize()
    summary = list_everything(mod)
    ctl.end()
    # After the window: what the module says of the other slots.
    summary['unrecognized'] = unrecognized_slots(mod)
    mod.finalize()
    return summary


def scenario_unknown_card(ctl, args):
    ctl.begin()
    mod = ck.Module(args.module)
    mod.initialize()
    slots = mod.slot_list(True)
    ctl.end()
    mod.finalize()
    return {'tokens': len(slots)}


def _one_token(mod):
    slots = mod.slot_list(True)
    if len(slots) != 1:
        raise RuntimeError('expected one token, the module shows %d'
                           % len(slots))
    return slots[0]


def _sign_input(key_type, message):
    digest = hashlib.sha256(message).digest()
    if key_type == ck.CKK_EC:
        return ck.CKM_ECDSA, digest
    if key_type == ck.CKK_RSA:
        return ck.CKM_RSA_PKCS, SHA256_DIGEST_INFO + digest
    raise RuntimeError('key type %d' % key_type)


def _find_key(mod, session, key_id):
    keys = mod.find(session, [(ck.CKA_CLASS, ck.CKO_PRIVATE_KEY),
                              (ck.CKA_ID, key_id)])
    if len(keys) != 1:
        raise RuntimeError('%d private keys with CKA_ID %s'
                           % (len(keys), key_id.hex()))
    return keys[0]


def _cert_of(mod, session, key_id):
    """The certificate with the key's CKA_ID, for the parent to check a
    signature with."""
    certs = mod.find(session, [(ck.CKA_CLASS, ck.CKO_CERTIFICATE),
                               (ck.CKA_ID, key_id)])
    return (mod.attributes(session, certs[0], [ck.CKA_VALUE])
            .get(ck.CKA_VALUE, b'') if certs else b'')


def scenario_login_sign(ctl, args):
    """Outside the window, what a browser has done long before the user
    signs: the cold start (load, list every object and its attributes)
    and a session. In the window: C_Login(USER), find the private key by
    CKA_ID, read its type and CKA_ALWAYS_AUTHENTICATE (as NSS does before
    it signs), then --count times: C_SignInit, C_Login(CONTEXT_SPECIFIC)
    if the key asks for it, C_Sign."""
    key_id = bytes.fromhex(args.key_id)
    mod = ck.Module(args.module)
    mod.initialize()
    list_everything(mod)
    slot = _one_token(mod)
    session = mod.open_session(slot)

    ctl.begin()
    mod.login(session, ck.CKU_USER, args.pin)
    key = _find_key(mod, session, key_id)
    attrs = mod.attributes(session, key, [ck.CKA_KEY_TYPE,
                                          ck.CKA_ALWAYS_AUTHENTICATE])
    key_type = ck.as_ulong(attrs[ck.CKA_KEY_TYPE])
    always = ck.as_bool(attrs.get(ck.CKA_ALWAYS_AUTHENTICATE, b''))
    mech, data = _sign_input(key_type, MESSAGE)
    for _ in range(args.count):
        mod.sign_init(session, mech, key)
        if always:
            mod.login(session, ck.CKU_CONTEXT_SPECIFIC, args.pin)
        sig = mod.sign(session, data, 1024)
    ctl.end()

    cert = _cert_of(mod, session, key_id)
    mod.finalize()
    return {'key_type': 'ec' if key_type == ck.CKK_EC else 'rsa',
            'always_authenticate': always, 'data': data.hex(),
            'signature': sig.hex(), 'cert': cert.hex(),
            'signatures': args.count}


def scenario_threads(ctl, args):
    """--threads threads sign --count signatures in all on one token, each
    thread in its own session. Outside the window: the cold start, one
    C_Login (a login is the token's, every session shares it), the key
    found, and one session per thread. In the window: the threads start
    together and each makes its share of C_SignInit + C_Sign. An error
    is counted and the thread goes on; ctypes releases the GIL during
    each call, so the threads are in the module at the same time."""
    key_id = bytes.fromhex(args.key_id)
    mod = ck.Module(args.module)
    mod.initialize()
    list_everything(mod)
    slot = _one_token(mod)
    main_session = mod.open_session(slot)
    mod.login(main_session, ck.CKU_USER, args.pin)
    key = _find_key(mod, main_session, key_id)
    key_type = ck.as_ulong(mod.attributes(main_session, key, [
        ck.CKA_KEY_TYPE])[ck.CKA_KEY_TYPE])
    sessions = [mod.open_session(slot) for _ in range(args.threads)]
    share = [args.count // args.threads + (1 if i < args.count % args.threads
                                           else 0)
             for i in range(args.threads)]
    start = threading.Barrier(args.threads + 1)
    lock = threading.Lock()
    errors = []
    last = [None] * args.threads

    def worker(i):
        # Each thread signs its own message: a signature that came back to
        # the wrong thread would not verify.
        mech, data = _sign_input(key_type, MESSAGE + b' %d' % i)
        start.wait()
        for _ in range(share[i]):
            try:
                mod.sign_init(sessions[i], mech, key)
                sig = mod.sign(sessions[i], data, 1024)
                last[i] = (data, sig)
            except ck.P11Error as e:
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(args.threads)]
    for t in threads:
        t.start()
    ctl.begin()
    start.wait()
    for t in threads:
        t.join()
    ctl.end()

    cert = _cert_of(mod, main_session, key_id)
    mod.finalize()
    return {'key_type': 'ec' if key_type == ck.CKK_EC else 'rsa',
            'always_authenticate': False, 'cert': cert.hex(),
            'signatures': args.count, 'threads': args.threads,
            'errors': len(errors), 'error_kinds': sorted(set(errors))[:5],
            'samples': [(d.hex(), s.hex()) for d, s in
                        (x for x in last if x is not None)]}


SCENARIOS = {
    'cold_start': scenario_cold_start,
    'unknown_card': scenario_unknown_card,
    'login_sign': scenario_login_sign,
    'threads': scenario_threads,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--scenario', required=True, choices=sorted(SCENARIOS))
    ap.add_argument('--ctl-in', type=int, required=True)
    ap.add_argument('--ctl-out', type=int, required=True)
    ap.add_argument('--key-id', default='01')
    ap.add_argument('--pin', default='123456')
    ap.add_argument('--count', type=int, default=1,
                    help='signatures (login_sign, threads)')
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    ctl = Control(args.ctl_in, args.ctl_out)
    ctl.mark('start')
    try:
        out = SCENARIOS[args.scenario](ctl, args)
    except (ck.P11Error, RuntimeError, OSError) as e:
        ctl.result({'error': str(e)})
        return 1
    ctl.mark('done')
    ctl.result(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
