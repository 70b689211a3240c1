#!/usr/bin/python3
"""Issue 3, acceptance: every mechanism of the PIV driver, on every key of
the demo card, checked by OpenSSL rather than by kyso itself.

- Signatures through PyKCS11 (single-part, and multi-part where the
  mechanism hashes) with CKM_RSA_PKCS, CKM_RSA_X_509, CKM_RSA_PKCS_PSS,
  CKM_SHA*_RSA_PKCS, CKM_SHA*_RSA_PKCS_PSS on 9A and 9D, CKM_ECDSA and
  CKM_ECDSA_SHA* on 9C (a context-specific login before each signature)
  and 9E; each verified by `openssl dgst -verify` / `openssl pkeyutl
  -verify` with the public key of the certificate read off the token,
  and by the module's own C_Verify (which must also reject a tampered
  signature).
- Decryption: OpenSSL encrypts under the certificate's key (PKCS#1 v1.5,
  OAEP with SHA-1 and SHA-256, with and without a label, raw RSA); kyso
  decrypts with CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_RSA_X_509.
- ECDH: CKM_ECDH1_DERIVE against a fresh OpenSSL key agrees with
  `openssl pkeyutl -derive`.
- CK_MECHANISM_INFO of each mechanism: key sizes and flags."""

import hashlib
import os

import piv_helpers as h
from piv_helpers import check, log, rig

P = h.pykcs11()

# name: (hash mechanism, MGF1, length, OpenSSL digest, hashlib name)
HASHES = {
    'SHA1': (P.CKM_SHA_1, P.CKG_MGF1_SHA1, 20, 'sha1'),
    'SHA224': (P.CKM_SHA224, P.CKG_MGF1_SHA224, 28, 'sha224'),
    'SHA256': (P.CKM_SHA256, P.CKG_MGF1_SHA256, 32, 'sha256'),
    'SHA384': (P.CKM_SHA384, P.CKG_MGF1_SHA384, 48, 'sha384'),
    'SHA512': (P.CKM_SHA512, P.CKG_MGF1_SHA512, 64, 'sha512'),
}

# DER DigestInfo prefixes, RFC 8017 9.2 note 1.
DIGEST_INFO = {
    'sha1': '3021300906052b0e03021a05000414',
    'sha224': '302d300d06096086480165030402040500041c',
    'sha256': '3031300d060960864801650304020105000420',
    'sha384': '3041300d060960864801650304020205000430',
    'sha512': '3051300d060960864801650304020305000440',
}

MESSAGE = (b'kyso PIV acceptance: the quick brown fox jumps over the lazy '
           b'dog. ' * 7) + os.urandom(13)


class Ctx:
    """What every check needs: the session, the rig's environment, a
    directory for OpenSSL's files."""

    def __init__(self, session, env, work):
        self.s = session
        self.env = env
        self.work = work
        self.n = 0
        self.signatures = 0

    def path(self, name):
        self.n += 1
        return os.path.join(self.work, '%03d-%s' % (self.n, name))


def mech(m, param=None):
    return P.Mechanism(m, param)


def pss(m, hname, salt=None):
    hm, mgf, hlen, _ = HASHES[hname]
    return P.RSA_PSS_Mechanism(m, hm, mgf, hlen if salt is None else salt)


def raise_rv(rv, what):
    if rv != P.CKR_OK:
        h.fail('%s: %s' % (what, h.rv_name(rv)))


def card_sign(ctx, key, mechanism, data, what, context_login, parts=None):
    """C_SignInit, the context-specific login when the key wants one, then
    C_Sign (or C_SignUpdate per part and C_SignFinal), each with the
    length query first."""
    lib, hs = ctx.s.lib, ctx.s.session
    raise_rv(lib.C_SignInit(hs, mechanism.to_native(), key),
             '%s: C_SignInit' % what)
    if context_login:
        h.call(lambda: ctx.s.login(h.PIN, P.CKU_CONTEXT_SPECIFIC),
               '%s: C_Login(CKU_CONTEXT_SPECIFIC)' % what)
    sig = P.ckbytelist()
    if parts is None:
        data1 = P.ckbytelist(data)
        raise_rv(lib.C_Sign(hs, data1, sig), '%s: C_Sign (length)' % what)
        check(len(sig) > 0, '%s: C_Sign length query gave 0' % what)
        raise_rv(lib.C_Sign(hs, data1, sig), '%s: C_Sign' % what)
    else:
        for p in parts:
            raise_rv(lib.C_SignUpdate(hs, P.ckbytelist(p)),
                     '%s: C_SignUpdate' % what)
        raise_rv(lib.C_SignFinal(hs, sig), '%s: C_SignFinal (length)' % what)
        raise_rv(lib.C_SignFinal(hs, sig), '%s: C_SignFinal' % what)
    ctx.signatures += 1
    return bytes(sig)


def module_verify(ctx, pub, mechanism, data, sig, what):
    """kyso's C_Verify (software, against the public key object) accepts
    the signature and rejects it with one bit flipped."""
    ok = h.call(lambda: ctx.s.verify(pub, data, P.ckbytelist(sig), mechanism),
                '%s: C_Verify' % what)
    check(ok, '%s: kyso\'s C_Verify rejects the signature OpenSSL accepted'
          % what)
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 0x01
    try:
        ok = ctx.s.verify(pub, data, P.ckbytelist(bytes(bad)), mechanism)
    except P.PyKCS11Error as e:
        h.fail('%s: C_Verify of a tampered signature: %s (expected '
               'CKR_SIGNATURE_INVALID)' % (what, e))
    check(not ok, '%s: kyso\'s C_Verify accepts a tampered signature' % what)


def openssl_verify(ctx, pub_pem, sig, what, data=None, digest=None,
                   raw_input=None, sigopts=(), recover=None):
    """OpenSSL checks a signature: `openssl dgst -<digest> -verify` over
    `data`, or `openssl pkeyutl -verify` over `raw_input` (a hash, or a
    DigestInfo for RSA), or `openssl pkeyutl -verifyrecover` with no
    padding whose output must equal `recover`."""
    sig_path = h.write(ctx.path('sig'), sig)
    if recover is not None:
        out = ctx.path('recovered')
        res = rig.run(['openssl', 'pkeyutl', '-verifyrecover', '-pubin',
                       '-inkey', pub_pem, '-in', sig_path, '-out', out,
                       '-pkeyopt', 'rsa_padding_mode:none'], env=ctx.env)
        check(res.returncode == 0, '%s: openssl pkeyutl -verifyrecover '
              'failed:\n%s' % (what, res.describe()))
        got = h.read(out)
        check(got == recover, '%s: OpenSSL recovers %s..., kyso was given '
              '%s...' % (what, got[:24].hex(), recover[:24].hex()))
        return
    if raw_input is not None:
        cmd = ['openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', pub_pem,
               '-in', h.write(ctx.path('in'), raw_input), '-sigfile',
               sig_path]
        for o in sigopts:
            cmd += ['-pkeyopt', o]
    else:
        cmd = ['openssl', 'dgst', '-' + digest, '-verify', pub_pem,
               '-signature', sig_path]
        for o in sigopts:
            cmd += ['-sigopt', o]
        cmd.append(h.write(ctx.path('data'), data))
    res = rig.run(cmd, env=ctx.env)
    check(res.returncode == 0 and 'Verified OK' in res.stdout + res.stderr
          or res.returncode == 0 and 'Signature Verified Successfully'
          in res.stdout + res.stderr,
          '%s: OpenSSL does not verify the signature:\n%s'
          % (what, res.describe()))


# ------------------------------------------------------------------ RSA

def rsa_signatures(ctx, k, priv, pub, pub_pem):
    kid = '%02X (%s)' % (k['id'], hex(k['ref']))
    nbytes = k['bits'] // 8
    ctx_login = k['id'] == h.ALWAYS_AUTH_ID

    def done(what, sig):
        check(len(sig) == nbytes, '%s: signature of %d bytes, expected %d'
              % (what, len(sig), nbytes))

    # CKM_RSA_PKCS over a DigestInfo: a standard PKCS#1 v1.5 signature
    # that `openssl dgst -sha256 -verify` accepts for the message.
    di = bytes.fromhex(DIGEST_INFO['sha256']) + hashlib.sha256(MESSAGE).digest()
    what = 'CKM_RSA_PKCS on key %s' % kid
    sig = card_sign(ctx, priv, mech(P.CKM_RSA_PKCS), di, what, ctx_login)
    done(what, sig)
    openssl_verify(ctx, pub_pem, sig, what, data=MESSAGE, digest='sha256')
    openssl_verify(ctx, pub_pem, sig, what + ' (pkeyutl)', raw_input=di)
    module_verify(ctx, pub, mech(P.CKM_RSA_PKCS), di, sig, what)

    # CKM_RSA_X_509: raw RSA over a whole EMSA-PKCS1-v1_5 block we built,
    # so that OpenSSL both recovers it and verifies it as PKCS#1 v1.5.
    di = bytes.fromhex(DIGEST_INFO['sha384']) + hashlib.sha384(MESSAGE).digest()
    block = b'\x00\x01' + b'\xff' * (nbytes - 3 - len(di)) + b'\x00' + di
    what = 'CKM_RSA_X_509 on key %s' % kid
    sig = card_sign(ctx, priv, mech(P.CKM_RSA_X_509), block, what, ctx_login)
    done(what, sig)
    openssl_verify(ctx, pub_pem, sig, what, recover=block)
    openssl_verify(ctx, pub_pem, sig, what, data=MESSAGE, digest='sha384')
    module_verify(ctx, pub, mech(P.CKM_RSA_X_509), block, sig, what)

    # CKM_RSA_PKCS_PSS over a hash: the parameters of issue 3 (SHA-256,
    # MGF1-SHA256, salt 32), and others.
    for hname, salt in (('SHA256', 32), ('SHA1', 20), ('SHA384', 0),
                        ('SHA512', 64)):
        hm, mgf, hlen, dname = HASHES[hname]
        digest = hashlib.new(dname, MESSAGE).digest()
        m = pss(P.CKM_RSA_PKCS_PSS, hname, salt)
        what = 'CKM_RSA_PKCS_PSS (%s, MGF1-%s, salt %d) on key %s' % (
            hname, hname, salt, kid)
        sig = card_sign(ctx, priv, m, digest, what, ctx_login)
        done(what, sig)
        opts = ['rsa_padding_mode:pss', 'rsa_pss_saltlen:%d' % salt,
                'rsa_mgf1_md:' + dname]
        openssl_verify(ctx, pub_pem, sig, what, data=MESSAGE, digest=dname,
                       sigopts=opts)
        openssl_verify(ctx, pub_pem, sig, what + ' (pkeyutl)',
                       raw_input=digest, sigopts=opts + ['digest:' + dname])
        module_verify(ctx, pub, m, digest, sig, what)

    # The hashing mechanisms, single- and multi-part.
    for hname in HASHES:
        hm, mgf, hlen, dname = HASHES[hname]
        for kind in ('RSA_PKCS', 'RSA_PKCS_PSS'):
            ckm = getattr(P, 'CKM_%s_%s' % (hname, kind))
            m = pss(ckm, hname) if kind == 'RSA_PKCS_PSS' else mech(ckm)
            opts = ([] if kind == 'RSA_PKCS' else
                    ['rsa_padding_mode:pss', 'rsa_pss_saltlen:%d' % hlen,
                     'rsa_mgf1_md:' + dname])
            # (PyKCS11 refuses an empty part itself, without calling
            # the module: no empty part here.)
            for parts in (None, [MESSAGE[:1], MESSAGE[1:100],
                                 MESSAGE[100:]]):
                what = 'CKM_%s_%s%s on key %s' % (
                    hname, kind, ' (multi-part)' if parts else '', kid)
                sig = card_sign(ctx, priv, m, MESSAGE, what, ctx_login, parts)
                done(what, sig)
                openssl_verify(ctx, pub_pem, sig, what, data=MESSAGE,
                               digest=dname, sigopts=opts)
                if parts is None:
                    module_verify(ctx, pub, m, MESSAGE, sig, what)


def rsa_decryption(ctx, k, priv, pub_pem):
    kid = '%02X (%s)' % (k['id'], hex(k['ref']))
    nbytes = k['bits'] // 8
    secret = os.urandom(32)
    cases = [
        ('CKM_RSA_PKCS', mech(P.CKM_RSA_PKCS), ['rsa_padding_mode:pkcs1'],
         secret),
        ('CKM_RSA_PKCS_OAEP SHA-1', P.RSAOAEPMechanism(P.CKM_SHA_1,
                                                        P.CKG_MGF1_SHA1),
         ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha1', 'rsa_mgf1_md:sha1'],
         secret),
        ('CKM_RSA_PKCS_OAEP SHA-256', P.RSAOAEPMechanism(P.CKM_SHA256,
                                                          P.CKG_MGF1_SHA256),
         ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256',
          'rsa_mgf1_md:sha256'], secret),
        ('CKM_RSA_PKCS_OAEP SHA-256 with a label',
         P.RSAOAEPMechanism(P.CKM_SHA256, P.CKG_MGF1_SHA256, b'kyso'),
         ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256', 'rsa_mgf1_md:sha256',
          'rsa_oaep_label:%s' % b'kyso'.hex()], secret),
        # Raw RSA: a block below the modulus.
        ('CKM_RSA_X_509', mech(P.CKM_RSA_X_509), ['rsa_padding_mode:none'],
         b'\x00' + os.urandom(nbytes - 1)),
    ]
    decrypted = []
    for name, m, opts, plain in cases:
        what = '%s decryption with key %s' % (name, kid)
        pin = h.write(ctx.path('plain'), plain)
        ct = ctx.path('ct')
        cmd = ['openssl', 'pkeyutl', '-encrypt', '-pubin', '-inkey', pub_pem,
               '-in', pin, '-out', ct]
        for o in opts:
            cmd += ['-pkeyopt', o]
        h.run_ok(cmd, ctx.env, '%s: OpenSSL encryption' % what)
        if 'label' in name:
            # module/key.c refuses OAEP labels on purpose (they would have
            # to outlive C_DecryptInit); refusing is fine, a wrong
            # plaintext is not.
            try:
                got = bytes(ctx.s.decrypt(priv, h.read(ct), m))
            except P.PyKCS11Error as e:
                check(e.value == P.CKR_MECHANISM_PARAM_INVALID,
                      '%s: C_Decrypt: %s (expected the plaintext or '
                      'CKR_MECHANISM_PARAM_INVALID)' % (what, e))
                log('key %s: %s refused (CKR_MECHANISM_PARAM_INVALID)'
                    % (kid, name))
                continue
        else:
            got = bytes(h.call(lambda: ctx.s.decrypt(priv, h.read(ct), m),
                               '%s: C_Decrypt' % what))
        check(got == plain, '%s: kyso decrypts %s, OpenSSL encrypted %s'
              % (what, got.hex(), plain.hex()))
        decrypted.append(name)
    log('key %s: decrypts %s' % (kid, ', '.join(decrypted)))


# ------------------------------------------------------------------- EC

def ec_signatures(ctx, k, priv, pub, pub_pem):
    kid = '%02X (%s)' % (k['id'], hex(k['ref']))
    flen = (k['bits'] + 7) // 8
    ctx_login = k['id'] == h.ALWAYS_AUTH_ID

    def done(what, sig):
        check(len(sig) == 2 * flen, '%s: signature of %d bytes, expected r||s '
              'of %d' % (what, len(sig), 2 * flen))
        return h.ecdsa_raw_to_der(sig)

    # CKM_ECDSA over hashes: the key's own size, a shorter one and a
    # longer one (ECDSA uses its leftmost bits, FIPS 186-4 6.4).
    for dname in ('sha256', 'sha384', 'sha1', 'sha512'):
        digest = hashlib.new(dname, MESSAGE).digest()
        what = 'CKM_ECDSA over a %s hash on key %s' % (dname, kid)
        sig = card_sign(ctx, priv, mech(P.CKM_ECDSA), digest, what, ctx_login)
        der = done(what, sig)
        openssl_verify(ctx, pub_pem, der, what, raw_input=digest)
        module_verify(ctx, pub, mech(P.CKM_ECDSA), digest, sig, what)

    for hname in HASHES:
        dname = HASHES[hname][3]
        m = mech(getattr(P, 'CKM_ECDSA_%s' % hname))
        for parts in (None, [MESSAGE[:7], MESSAGE[7:]]):
            what = 'CKM_ECDSA_%s%s on key %s' % (
                hname, ' (multi-part)' if parts else '', kid)
            sig = card_sign(ctx, priv, m, MESSAGE, what, ctx_login, parts)
            der = done(what, sig)
            openssl_verify(ctx, pub_pem, der, what, data=MESSAGE,
                           digest=dname)
            if parts is None:
                module_verify(ctx, pub, m, MESSAGE, sig, what)


def ecdh(ctx, k, priv, cert_pub_pem):
    kid = '%02X (%s)' % (k['id'], hex(k['ref']))
    flen = (k['bits'] + 7) // 8
    peer = ctx.path('peer.pem')
    h.openssl(ctx.env, 'genpkey', '-algorithm', 'EC', '-pkeyopt',
              'ec_paramgen_curve:' + k['curve'], '-out', peer)
    peer_der = ctx.path('peer-pub.der')
    h.openssl(ctx.env, 'pkey', '-in', peer, '-pubout', '-outform', 'DER',
              '-out', peer_der)
    point = h.ec_point_from_spki(h.read(peer_der), flen)
    want_path = ctx.path('z-openssl')
    h.openssl(ctx.env, 'pkeyutl', '-derive', '-inkey', peer, '-peerkey',
              cert_pub_pem, '-out', want_path,
              what='openssl pkeyutl -derive with the certificate of key %s'
              % kid)
    want = h.read(want_path)

    what = 'CKM_ECDH1_DERIVE with key %s' % kid
    tmpl = [(P.CKA_CLASS, P.CKO_SECRET_KEY),
            (P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET),
            (P.CKA_TOKEN, False), (P.CKA_SENSITIVE, False),
            (P.CKA_EXTRACTABLE, True)]
    secret = h.call(lambda: ctx.s.deriveKey(
        priv, tmpl, P.ECDH1_DERIVE_Mechanism(list(point))), what)
    got = h.attr_bytes(ctx.s, secret, P.CKA_VALUE, 'the secret key of ' + what)
    check(got == want, '%s: kyso derives %s, OpenSSL %s'
          % (what, got.hex(), want.hex()))
    h.call(lambda: ctx.s.destroyObject(secret), '%s: C_DestroyObject of the '
           'derived key' % what)
    log('key %s: ECDH1 derive agrees with OpenSSL (%d bytes)'
        % (kid, len(got)))


# ------------------------------------------------------- mechanism info

RSA_SIGN = ['CKM_RSA_PKCS', 'CKM_RSA_X_509', 'CKM_RSA_PKCS_PSS'] + \
    ['CKM_%s_RSA_PKCS' % x for x in HASHES] + \
    ['CKM_%s_RSA_PKCS_PSS' % x for x in HASHES]
EC_SIGN = ['CKM_ECDSA'] + ['CKM_ECDSA_%s' % x for x in HASHES]


def mechanism_info(lib, slot):
    # PyKCS11 gives the mechanisms' names.
    have = set(h.call(lambda: lib.getMechanismList(slot),
                      'C_GetMechanismList'))
    want = {
        'CKM_RSA_PKCS': ('rsa', ['CKF_SIGN', 'CKF_DECRYPT']),
        'CKM_RSA_X_509': ('rsa', ['CKF_SIGN', 'CKF_DECRYPT']),
        'CKM_RSA_PKCS_OAEP': ('rsa', ['CKF_DECRYPT']),
        'CKM_RSA_PKCS_KEY_PAIR_GEN': ('rsa', ['CKF_GENERATE_KEY_PAIR']),
        'CKM_EC_KEY_PAIR_GEN': ('ec', ['CKF_GENERATE_KEY_PAIR']),
        'CKM_ECDH1_DERIVE': ('ec', ['CKF_DERIVE']),
    }
    for m in RSA_SIGN:
        want.setdefault(m, ('rsa', ['CKF_SIGN']))
    for m in EC_SIGN:
        want[m] = ('ec', ['CKF_SIGN'])
    missing = sorted(set(want) - have)
    check(not missing, 'C_GetMechanismList lacks %s (has %s)'
          % (missing, sorted(map(str, have))))
    for name, (kind, flags) in sorted(want.items()):
        info = h.call(lambda: lib.getMechanismInfo(slot, name),
                      'C_GetMechanismInfo(%s)' % name)
        lo, hi, f = info.ulMinKeySize, info.ulMaxKeySize, info.flags
        if kind == 'rsa':
            # RSA 1024 to 2048 at least (4096 on newer YubiKeys), in bits.
            check(lo <= 1024 and 2048 <= hi <= 16384, '%s: key sizes %d-%d, '
                  'expected bits covering 1024-2048' % (name, lo, hi))
        else:
            check(lo <= 256 and 384 <= hi <= 521, '%s: key sizes %d-%d, '
                  'expected bits covering P-256 and P-384' % (name, lo, hi))
            for ecf in ('CKF_EC_F_P', 'CKF_EC_NAMEDCURVE', 'CKF_EC_UNCOMPRESS'):
                check(f & getattr(P, ecf), '%s: flags %s lack %s'
                      % (name, info.flags2text(), ecf))
            check(not f & 0x00200000, '%s: CKF_EC_F_2M set on a card with only '
                  'prime curves' % name)
        for fl in flags + ['CKF_HW']:
            check(f & getattr(P, fl), '%s: flags %s lack %s'
                  % (name, info.flags2text(), fl))
        # Nothing here encrypts or wraps with a private key, and
        # signature mechanisms do not decrypt.
        check(not f & (P.CKF_ENCRYPT | P.CKF_WRAP),
              '%s: flags %s claim encryption/wrapping, which the token does '
              'not offer' % (name, info.flags2text()))
        if name in RSA_SIGN[2:] or name in EC_SIGN:
            check(not f & P.CKF_DECRYPT, '%s: a signature mechanism with '
                  'CKF_DECRYPT' % name)
        if 'CKF_SIGN' in flags:
            check(f & P.CKF_VERIFY, '%s: signs but has no CKF_VERIFY (the '
                  'module verifies in software)' % name)
    for name in ('CKM_SHA_1', 'CKM_SHA224', 'CKM_SHA256', 'CKM_SHA384',
                 'CKM_SHA512'):
        if name in have:
            info = lib.getMechanismInfo(slot, name)
            check(info.flags & P.CKF_DIGEST, '%s: no CKF_DIGEST' % name)
    log('C_GetMechanismInfo: %d mechanisms with sane sizes and flags'
        % len(want))


# ----------------------------------------------------------------- main

def test():
    work = h.workdir('mechs')
    with rig.Rig(readers=2) as r:
        _, _, ca = h.start_demo_card(r, work)
        lib = h.load_module()
        slot = h.slot_of(lib, r.reader_name(0))
        mechanism_info(lib, slot)

        session = h.call(lambda: lib.openSession(
            slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION), 'C_OpenSession')
        h.call(lambda: session.login(h.PIN), 'C_Login(CKU_USER, 123456)')
        ctx = Ctx(session, r.env, work)

        for k in h.DEMO_KEYS:
            kid = '%02X (%s)' % (k['id'], hex(k['ref']))
            cert_der = h.save_token_cert(session, k['id'], ctx.path(
                'cert-%02x.der' % k['id']), 'certificate %s' % kid)
            h.verify_chain(r.env, cert_der, ca, 'certificate %s' % kid)
            pub_pem = h.cert_pubkey(r.env, cert_der, ctx.path('pub.pem'))
            priv = h.find_one(session, 'private key %s' % kid,
                              klass=P.CKO_PRIVATE_KEY, id=k['id'])
            pub = h.find_one(session, 'public key %s' % kid,
                             klass=P.CKO_PUBLIC_KEY, id=k['id'])
            before = ctx.signatures
            if k['type'] == 'rsa':
                rsa_signatures(ctx, k, priv, pub, pub_pem)
                rsa_decryption(ctx, k, priv, pub_pem)
            else:
                ec_signatures(ctx, k, priv, pub, pub_pem)
            log('key %s: %d signatures, each verified by OpenSSL'
                % (kid, ctx.signatures - before))

            if k['id'] == h.ALWAYS_AUTH_ID:
                # PIN always: without a context-specific login right
                # before it, the signature is refused.
                what = 'CKM_ECDSA_SHA256 on 9C without a context-specific login'
                raise_rv(session.lib.C_SignInit(
                    session.session, mech(P.CKM_ECDSA_SHA256).to_native(),
                    priv), what + ': C_SignInit')
                sig = P.ckbytelist()
                data1 = P.ckbytelist(MESSAGE)
                rv = session.lib.C_Sign(session.session, data1, sig)
                if rv == P.CKR_OK:
                    rv = session.lib.C_Sign(session.session, data1, sig)
                check(rv == P.CKR_USER_NOT_LOGGED_IN, '%s: expected '
                      'CKR_USER_NOT_LOGGED_IN, got %s' % (what, h.rv_name(rv)))
                log('9C without a context-specific login: '
                    'CKR_USER_NOT_LOGGED_IN')

        # ECDH on the EC key that derives without PIN-always (9E), as
        # C_DeriveKey leaves no operation open for a context login.
        k = [k for k in h.DEMO_KEYS if k['ref'] == 0x9E][0]
        priv = h.find_one(session, 'private key 04', klass=P.CKO_PRIVATE_KEY,
                          id=k['id'])
        derive = h.attr_bytes(session, priv, P.CKA_DERIVE, 'private key 04')
        check(derive == b'\x01', 'the 9E private key has CKA_DERIVE %s'
              % derive.hex())
        cert_der = h.save_token_cert(session, k['id'], ctx.path('cert.der'),
                                     'certificate 04')
        ecdh(ctx, k, priv, h.cert_pubkey(r.env, cert_der, ctx.path('pub.pem')))

        h.call(session.logout, 'C_Logout')
        h.call(session.closeSession, 'C_CloseSession')


rig.main(test)
