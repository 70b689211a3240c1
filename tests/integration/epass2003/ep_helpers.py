"""What the ePass2003 acceptance tests (issue 4) share: the virtual token
(`kyso-vcard --type epass2003 --provision vendor|pkcs15`) in a rig, and
the generic helpers of the PIV tests (pkcs11-tool, OpenSSL, PyKCS11,
parsing pkcs11-tool listings), reused from ../piv/piv_helpers.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'piv'))

from piv_helpers import (  # noqa: E402,F401
    call, check, count_kinds, expect_rv, fail, find_one, load_module, log,
    openssl, opensc_env, parse_objects, pykcs11, read, rig, run_ok, slot_of,
    token_flags, tool, workdir, write, MODULE, OPENSC_MODULE)

# What both provisionings hold (tests/vcard/epass2003/ep_provision.c).
PIN = '12345678'
SO_PIN = '87654321'


def start_token(r, work, provision, reader=0):
    """The virtual ePass2003 in `reader`, state kept in `work`. Returns
    (card, state file, the demo CA certificate file)."""
    state = os.path.join(work, '%s.state' % provision)
    card = r.start_card(reader, 'epass2003', state=state, provision=provision)
    return card, state, state + '.ca.pem'


def objects(env, *args, what):
    res = tool(env, *args, '-O', what=what)
    return parse_objects(res.stdout), res.stdout


def sign_and_verify(env, work, key_id, mech, what):
    """Sign with pkcs11-tool and kyso, verify with OpenSSL and the public
    key of the token's certificate with the same CKA_ID."""
    data = write(os.path.join(work, 'data.txt'), 'Hợp đồng số 42/2026 %s\n' % mech)
    sig = os.path.join(work, 'sig-%s.bin' % mech)
    cert = os.path.join(work, 'cert-%s.der' % key_id)
    pub = os.path.join(work, 'pub-%s.pem' % key_id)
    tool(env, '--read-object', '--type', 'cert', '--id', key_id, '--output-file', cert,
         what='%s: reading the certificate' % what)
    openssl(env, 'x509', '-inform', 'DER', '-in', cert, '-noout', '-pubkey', '-out', pub)
    tool(env, '--login', '--pin', PIN, '--sign', '--id', key_id, '-m', mech,
         '--input-file', data, '--output-file', sig, what='%s: signing' % what)
    if mech == 'SHA256-RSA-PKCS':
        openssl(env, 'dgst', '-sha256', '-verify', pub, '-signature', sig, data,
                what='%s: OpenSSL verifying' % what)
    elif mech == 'SHA256-RSA-PKCS-PSS':
        openssl(env, 'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt',
                'rsa_pss_saltlen:-1', '-verify', pub, '-signature', sig, data,
                what='%s: OpenSSL verifying PSS' % what)
    else:
        fail('no verification for %s' % mech)
    log('%s: %s signature by key %s verifies with the certificate' % (what, mech, key_id))
