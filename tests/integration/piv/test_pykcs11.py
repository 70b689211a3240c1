#!/usr/bin/python3
"""Issue 3, acceptance: a PyKCS11 application against the demo PIV card.

It opens sessions, finds objects by class, reads the certificates'
CKA_VALUE and checks that the other attributes (CKA_SUBJECT, CKA_ISSUER,
CKA_SERIAL_NUMBER, the public keys' CKA_MODULUS / CKA_EC_POINT...) are
the ones in the certificate; that the private keys are private,
sensitive and carry the right usage flags; signs and verifies through the
module (C_Sign, C_Verify); and pins down C_GetAttributeValue and the
length rules of PKCS#11 2.40 (5.2, 5.7: sensitive and unknown attributes,
length queries, buffers too small)."""

import hashlib
import os

import piv_helpers as h
from piv_helpers import check, log, rig

P = h.pykcs11()

UNAVAILABLE = h.RawP11.UNAVAILABLE


def obj_name(k, kind):
    return '%s %02X (%s)' % (kind, k['id'], hex(k['ref']))


def find_all(session, klass, what):
    return h.call(lambda: session.findObjects([(P.CKA_CLASS, klass)]),
                  'C_FindObjects(%s)' % what)


def attrs(session, obj, names, what):
    """{name: value} for CKA_ names, PyKCS11-typed; None when the module
    says the attribute is unavailable."""
    types = [getattr(P, n) for n in names]
    vals = h.call(lambda: session.getAttributeValue(obj, types),
                  'C_GetAttributeValue of %s' % what)
    out = {}
    for n, v in zip(names, vals):
        if isinstance(v, (list, tuple, P.ckbytelist)):
            v = bytes(v)
        out[n] = v
    return out


def expect_attrs(got, want, what):
    for n, v in want.items():
        check(got.get(n) == v, '%s: %s is %r, expected %r'
              % (what, n, got.get(n), v))


def check_certificates(session, env, work, ca):
    certs = find_all(session, P.CKO_CERTIFICATE, 'CKO_CERTIFICATE')
    check(len(certs) == 4, 'found %d certificates, expected 4' % len(certs))
    fields = {}
    for k in h.DEMO_KEYS:
        what = obj_name(k, 'certificate')
        cert = h.find_one(session, what, klass=P.CKO_CERTIFICATE, id=k['id'])
        a = attrs(session, cert, ['CKA_VALUE', 'CKA_SUBJECT', 'CKA_ISSUER',
                                  'CKA_SERIAL_NUMBER', 'CKA_LABEL', 'CKA_ID',
                                  'CKA_CERTIFICATE_TYPE', 'CKA_TOKEN',
                                  'CKA_PRIVATE', 'CKA_MODIFIABLE'], what)
        der = a['CKA_VALUE']
        path = h.write(os.path.join(work, 'cert-%02x.der' % k['id']), der)
        # OpenSSL parses it, and it is the demo CA's certificate for
        # this slot.
        subj = h.openssl(env, 'x509', '-inform', 'DER', '-in', path, '-noout',
                         '-subject', '-nameopt', 'RFC2253',
                         what='openssl x509 on the CKA_VALUE of ' + what).stdout
        check('CN=kyso demo %X' % k['ref'] in subj, '%s: subject %s, expected '
              'the demo certificate of %X' % (what, subj.strip(), k['ref']))
        h.verify_chain(env, path, ca, what)
        f = h.x509_fields(der)
        expect_attrs(a, {'CKA_SUBJECT': f['subject'],
                         'CKA_ISSUER': f['issuer'],
                         'CKA_SERIAL_NUMBER': f['serial'],
                         'CKA_LABEL': k['cert_label'],
                         'CKA_ID': bytes([k['id']]),
                         'CKA_CERTIFICATE_TYPE': P.CKC_X_509,
                         'CKA_TOKEN': True, 'CKA_PRIVATE': False}, what)
        fields[k['id']] = f
    log('4 certificates: CKA_VALUE parses, chains to the demo CA, and '
        'CKA_SUBJECT/ISSUER/SERIAL_NUMBER match it')
    return fields


def check_public_keys(session, fields):
    pubs = find_all(session, P.CKO_PUBLIC_KEY, 'CKO_PUBLIC_KEY')
    check(len(pubs) == 4, 'found %d public keys, expected 4' % len(pubs))
    for k in h.DEMO_KEYS:
        what = obj_name(k, 'public key')
        f = fields[k['id']]
        pub = h.find_one(session, what, klass=P.CKO_PUBLIC_KEY, id=k['id'])
        common = attrs(session, pub, ['CKA_KEY_TYPE', 'CKA_VERIFY',
                                      'CKA_PRIVATE', 'CKA_TOKEN'], what)
        if k['type'] == 'rsa':
            a = attrs(session, pub, ['CKA_MODULUS', 'CKA_PUBLIC_EXPONENT',
                                     'CKA_MODULUS_BITS'], what)
            n, e = h.rsa_public_numbers(f['spki_key'])
            expect_attrs(common, {'CKA_KEY_TYPE': P.CKK_RSA}, what)
            expect_attrs({'CKA_MODULUS': a['CKA_MODULUS'].lstrip(b'\0'),
                          'CKA_PUBLIC_EXPONENT':
                          a['CKA_PUBLIC_EXPONENT'].lstrip(b'\0'),
                          'CKA_MODULUS_BITS': a['CKA_MODULUS_BITS']},
                         {'CKA_MODULUS': n, 'CKA_PUBLIC_EXPONENT': e,
                          'CKA_MODULUS_BITS': k['bits']}, what)
        else:
            a = attrs(session, pub, ['CKA_EC_PARAMS', 'CKA_EC_POINT'], what)
            point = f['spki_key']
            expect_attrs(common, {'CKA_KEY_TYPE': P.CKK_EC}, what)
            # CKA_EC_POINT is the DER OCTET STRING of the point (PKCS#11
            # 2.40 2.3.3).
            expect_attrs(a, {'CKA_EC_PARAMS': f['spki_alg_params'],
                             'CKA_EC_POINT': b'\x04' + h.der_len(len(point)) +
                             point}, what)
        expect_attrs(common, {'CKA_VERIFY': True, 'CKA_PRIVATE': False,
                              'CKA_TOKEN': True}, what)
    log('4 public keys match their certificates')


def check_private_keys(session, fields):
    privs = find_all(session, P.CKO_PRIVATE_KEY, 'CKO_PRIVATE_KEY')
    check(len(privs) == 4, 'after login: %d private keys, expected 4'
          % len(privs))
    for k in h.DEMO_KEYS:
        what = obj_name(k, 'private key')
        priv = h.find_one(session, what, klass=P.CKO_PRIVATE_KEY, id=k['id'])
        a = attrs(session, priv, [
            'CKA_KEY_TYPE', 'CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE',
            'CKA_EXTRACTABLE', 'CKA_ALWAYS_SENSITIVE', 'CKA_NEVER_EXTRACTABLE',
            'CKA_SIGN', 'CKA_DECRYPT', 'CKA_UNWRAP', 'CKA_DERIVE',
            'CKA_ALWAYS_AUTHENTICATE'], what)
        rsa = k['type'] == 'rsa'
        want = {
            'CKA_KEY_TYPE': P.CKK_RSA if rsa else P.CKK_EC,
            'CKA_TOKEN': True, 'CKA_PRIVATE': True, 'CKA_SENSITIVE': True,
            'CKA_EXTRACTABLE': False, 'CKA_ALWAYS_SENSITIVE': True,
            'CKA_NEVER_EXTRACTABLE': True, 'CKA_SIGN': True,
            'CKA_DECRYPT': rsa, 'CKA_UNWRAP': rsa, 'CKA_DERIVE': not rsa,
            'CKA_ALWAYS_AUTHENTICATE': k['id'] == h.ALWAYS_AUTH_ID}
        if k['id'] == h.ALWAYS_AUTH_ID:
            # PIN always: C_DeriveKey leaves no operation open for the
            # context-specific login, so 9C may or may not offer ECDH.
            del want['CKA_DERIVE']
        expect_attrs(a, want, what)
        if rsa:
            # If the module shows the modulus on the private key, it must
            # be the certificate's.
            m = session.getAttributeValue(priv, [P.CKA_MODULUS], True)[0]
            if m is not None and len(m):
                n, _ = h.rsa_public_numbers(fields[k['id']]['spki_key'])
                check(bytes(m).lstrip(b'\0') == n, '%s: CKA_MODULUS is not '
                      'the certificate\'s' % what)
    log('4 private keys: private, sensitive, never extractable, usage per '
        'key type, CKA_ALWAYS_AUTHENTICATE on 9C only')


def check_attribute_rules(raw, session, k_rsa, cert_der):
    """PKCS#11 2.40 5.7, C_GetAttributeValue, cases 1 to 5."""
    cert = h.find_one(session, 'certificate 01', klass=P.CKO_CERTIFICATE,
                      id=k_rsa['id'])
    priv = h.find_one(session, 'private key 01', klass=P.CKO_PRIVATE_KEY,
                      id=k_rsa['id'])

    # 3: pValue NULL -> the exact length.
    rv, ((n, _),) = raw.get_attributes(session.session, cert,
                                       [(P.CKA_VALUE, None)])
    check(rv == P.CKR_OK and n == len(cert_der), 'length query of CKA_VALUE '
          'of certificate 01: %s, %d (expected CKR_OK, %d)'
          % (h.rv_name(rv), n, len(cert_der)))
    # 4: a buffer of exactly that size.
    rv, ((n, val),) = raw.get_attributes(session.session, cert,
                                         [(P.CKA_VALUE, len(cert_der))])
    check(rv == P.CKR_OK and val == cert_der, 'CKA_VALUE of certificate 01 '
          'into an exact buffer: %s, %d bytes' % (h.rv_name(rv), n))
    # 5: too small -> CKR_BUFFER_TOO_SMALL, ulValueLen unavailable.
    rv, ((n, _),) = raw.get_attributes(session.session, cert,
                                       [(P.CKA_VALUE, 10)])
    check(rv == P.CKR_BUFFER_TOO_SMALL, 'CKA_VALUE of certificate 01 into 10 '
          'bytes: %s, expected CKR_BUFFER_TOO_SMALL' % h.rv_name(rv))
    check(n == UNAVAILABLE, 'CKA_VALUE into a buffer too small: ulValueLen '
          '%d, expected CK_UNAVAILABLE_INFORMATION (2.40 5.7 case 5)' % n)
    # 1: a sensitive attribute; the others in the template are still
    # processed.
    rv, got = raw.get_attributes(session.session, priv, [
        (P.CKA_LABEL, 64), (P.CKA_VALUE, None), (P.CKA_ID, 8),
        (P.CKA_PRIVATE_EXPONENT, 512)])
    check(rv in (P.CKR_ATTRIBUTE_SENSITIVE, P.CKR_ATTRIBUTE_TYPE_INVALID),
          'CKA_VALUE and CKA_PRIVATE_EXPONENT of a private key: %s, expected '
          'CKR_ATTRIBUTE_SENSITIVE (or TYPE_INVALID)' % h.rv_name(rv))
    check(got[1][0] == UNAVAILABLE and got[3][0] == UNAVAILABLE,
          'sensitive attributes of a private key: ulValueLen %s, expected '
          'CK_UNAVAILABLE_INFORMATION' % ([got[1][0], got[3][0]],))
    check(got[0][1] == b'PIV AUTH key' and got[2][1] == b'\x01',
          'CKA_LABEL and CKA_ID beside sensitive attributes in one template '
          'were not returned: %r, %r (2.40 5.7: every attribute is processed)'
          % (got[0][1], got[2][1]))
    # 2: an attribute the object does not have.
    rv, ((n, _),) = raw.get_attributes(session.session, cert,
                                       [(P.CKA_MODULUS_BITS, 8)])
    check(rv == P.CKR_ATTRIBUTE_TYPE_INVALID and n == UNAVAILABLE,
          'CKA_MODULUS_BITS of a certificate: %s, ulValueLen %d (expected '
          'CKR_ATTRIBUTE_TYPE_INVALID, CK_UNAVAILABLE_INFORMATION)'
          % (h.rv_name(rv), n))
    log('C_GetAttributeValue: length query, exact buffer, '
        'CKR_BUFFER_TOO_SMALL, CKR_ATTRIBUTE_SENSITIVE, '
        'CKR_ATTRIBUTE_TYPE_INVALID as PKCS#11 2.40 5.7 says')


def check_sign_verify(raw, session, env, work):
    data = b'signed through PyKCS11 ' + os.urandom(16)
    for k, m, siglen in (
            (h.DEMO_KEYS[0], P.Mechanism(P.CKM_SHA256_RSA_PKCS), 256),
            (h.DEMO_KEYS[3], P.Mechanism(P.CKM_ECDSA_SHA384), 96)):
        what = obj_name(k, 'key')
        priv = h.find_one(session, what, klass=P.CKO_PRIVATE_KEY, id=k['id'])
        pub = h.find_one(session, what, klass=P.CKO_PUBLIC_KEY, id=k['id'])

        # C_Sign's length rules (2.40 5.2): a length query, then a buffer
        # too small (the operation stays active), then the signature.
        rv = session.lib.C_SignInit(session.session, m.to_native(), priv)
        check(rv == P.CKR_OK, '%s: C_SignInit: %s' % (what, h.rv_name(rv)))
        rv, n, _ = raw.sign(session.session, data, None)
        check(rv == P.CKR_OK and n == siglen, '%s: C_Sign length query: %s, '
              '%d (expected CKR_OK, %d)' % (what, h.rv_name(rv), n, siglen))
        rv, n, _ = raw.sign(session.session, data, 10)
        check(rv == P.CKR_BUFFER_TOO_SMALL and n == siglen, '%s: C_Sign into '
              '10 bytes: %s, length %d (expected CKR_BUFFER_TOO_SMALL, %d)'
              % (what, h.rv_name(rv), n, siglen))
        rv, n, sig = raw.sign(session.session, data, siglen)
        check(rv == P.CKR_OK and n == siglen and sig, '%s: C_Sign after '
              'CKR_BUFFER_TOO_SMALL: %s, %d bytes' % (what, h.rv_name(rv), n))
        rv = session.lib.C_Sign(session.session, P.ckbytelist(data),
                                P.ckbytelist())
        check(rv == P.CKR_OPERATION_NOT_INITIALIZED, '%s: C_Sign after the '
              'signature was returned: %s, expected '
              'CKR_OPERATION_NOT_INITIALIZED' % (what, h.rv_name(rv)))

        ok = h.call(lambda: session.verify(pub, data, P.ckbytelist(sig), m),
                    '%s: C_Verify' % what)
        check(ok, '%s: C_Verify rejects the signature C_Sign made' % what)
        ok = h.call(lambda: session.verify(pub, data + b'!',
                                           P.ckbytelist(sig), m),
                    '%s: C_Verify of other data' % what)
        check(not ok, '%s: C_Verify accepts the signature for other data'
              % what)
        # And OpenSSL agrees.
        if k['type'] == 'ec':
            sig = h.ecdsa_raw_to_der(sig)
        cert = h.find_one(session, what, klass=P.CKO_CERTIFICATE, id=k['id'])
        cpath = h.write(os.path.join(work, 'v-%02x.der' % k['id']),
                        h.attr_bytes(session, cert, P.CKA_VALUE, what))
        pub_pem = h.cert_pubkey(env, cpath, cpath + '.pub.pem')
        res = rig.run(['openssl', 'dgst', '-sha256' if k['type'] == 'rsa'
                       else '-sha384', '-verify', pub_pem, '-signature',
                       h.write(cpath + '.sig', sig),
                       h.write(cpath + '.data', data)], env=env)
        check(res.returncode == 0, '%s: OpenSSL does not verify the '
              'signature:\n%s' % (what, res.describe()))
    log('C_Sign (length query, CKR_BUFFER_TOO_SMALL, then the signature) and '
        'C_Verify on RSA and EC keys; OpenSSL agrees')

    # The module's digests are SHA-2 as hashlib computes them.
    for name, m in (('sha256', P.CKM_SHA256), ('sha384', P.CKM_SHA384)):
        d = bytes(h.call(lambda: session.digest(data, P.Mechanism(m)),
                         'C_Digest %s' % name))
        check(d == hashlib.new(name, data).digest(), 'C_Digest(%s) differs '
              'from hashlib' % name)


def test():
    work = h.workdir('pykcs11')
    with rig.Rig(readers=2) as r:
        _, _, ca = h.start_demo_card(r, work)
        lib = h.load_module()
        raw = h.RawP11()

        info = lib.getInfo()
        check(info.cryptokiVersion[0] == 2, 'C_GetInfo: Cryptoki version %s'
              % (info.cryptokiVersion,))
        all_slots = lib.getSlotList()
        slot = h.slot_of(lib, r.reader_name(0))
        check(len(all_slots) >= 2 and slot in all_slots, 'C_GetSlotList: %s '
              '(the rig has 2 readers)' % all_slots)
        t = lib.getTokenInfo(slot)
        label = t.label.strip()
        serial = t.serialNumber.strip()
        check(label and serial and serial != '0' and serial in label,
              'token label %r and serial %r: expected a serial number, '
              'shown in the label' % (label, serial))
        check(t.ulMinPinLen == 6 and t.ulMaxPinLen == 8, 'PIN length %d-%d, '
              'PIV PINs are 6 to 8' % (t.ulMinPinLen, t.ulMaxPinLen))
        for f in ('CKF_LOGIN_REQUIRED', 'CKF_TOKEN_INITIALIZED',
                  'CKF_USER_PIN_INITIALIZED'):
            check(t.flags & getattr(P, f), 'token flags lack %s: %s'
                  % (f, t.flags2text()))
        log('token "%s", serial %s, manufacturer %s, model %s'
            % (label, serial, t.manufacturerID.strip(), t.model.strip()))

        # A read-only session, public objects only.
        s = h.call(lambda: lib.openSession(slot), 'C_OpenSession (R/O)')
        st = s.getSessionInfo()
        check(st.state == P.CKS_RO_PUBLIC_SESSION, 'session state %s, '
              'expected CKS_RO_PUBLIC_SESSION' % st.state2text())
        fields = check_certificates(s, r.env, work, ca)
        check_public_keys(s, fields)
        privs = find_all(s, P.CKO_PRIVATE_KEY, 'CKO_PRIVATE_KEY')
        check(not privs, 'before login C_FindObjects shows %d private keys '
              '(CKA_PRIVATE objects must wait for the login)' % len(privs))

        h.call(lambda: s.login(h.PIN), 'C_Login(CKU_USER)')
        st = s.getSessionInfo()
        check(st.state == P.CKS_RO_USER_FUNCTIONS, 'after login: session '
              'state %s, expected CKS_RO_USER_FUNCTIONS' % st.state2text())
        check_private_keys(s, fields)
        check_attribute_rules(raw, s, h.DEMO_KEYS[0],
                              h.read(os.path.join(work, 'cert-01.der')))
        check_sign_verify(raw, s, r.env, work)

        h.call(s.logout, 'C_Logout')
        privs = find_all(s, P.CKO_PRIVATE_KEY, 'CKO_PRIVATE_KEY')
        check(not privs, 'after C_Logout C_FindObjects still shows %d private '
              'keys' % len(privs))
        h.call(s.closeSession, 'C_CloseSession')


rig.main(test)
