#!/usr/bin/python3
"""Issue 6: LibreOffice signs an ODT and exports a signed PDF with a
card's signing key and certificate, through kyso registered in its NSS
database; programs that never load kyso confirm the signatures. The card
is the profile named on the command line (../clients-nss-openssl/
card_profiles.py): `piv` (the demo PIV card's 9A key, RSA-2048, "kyso
demo 9A") or `epass2003` (Feitian's vendor layout, the RSA-2048 key of
"NGUYỄN VĂN AN", token "VNPT-CA"); CN below is the card's.

1. NSS database A (certutil -N, modutil -add kyso): what a resident's
   LibreOffice reads from MOZILLA_CERTIFICATE_FOLDER=sql:A.
2. LibreOffice #1 (headless, scratch profile and HOME, the rig's pcscd)
   runs kyso_lo_macro.py: it logs the token in through LibreOffice's own
   NSS (headless LibreOffice cancels its PIN dialog), picks the card's
   certificate (by CN and serial number) from LibreOffice's personal
   certificates, writes an ODT,
   signs it (XDocumentDigitalSignatures.signDocumentWithCertificate) and
   exports a signed PDF (writer_pdf_Export, SignPDF).
3. NSS database B: only the demo CA, trusted; no module.
4. The checks, none of which loads kyso or sees the pcscd:
   - `pdfsig -nssdir sql:B` on the PDF: "Signature Validation: Signature
     is Valid.", "Certificate Validation: Certificate is Trusted.", and
     "Signer Certificate Common Name: CN";
   - OpenSSL: the PDF's CMS signature verifies (openssl cms -verify
     -binary over the /ByteRange, -CAfile demo CA), signer the card's
     certificate;
   - LibreOffice #2 (its own profile, MOZILLA_CERTIFICATE_FOLDER=sql:B,
     no pcscd) lists no personal certificate, and
     verifyDocumentContentSignatures says the ODT has one signature,
     valid, certificate VALID, signer CN=CN with the card's
     certificate's serial number.
5. Negative checks (the verifiers can say no): the PDF with one byte of
   its signed range changed makes pdfsig report no valid signature, and
   the ODT with its content.xml changed is invalid for LibreOffice #2.
6. What LibreOffice's NSS probes on every slot, C_GenerateKey
   (CKM_DES3_KEY_GEN), kyso refuses with CKR_MECHANISM_INVALID (PyKCS11;
   kyso does not list the mechanism, so NSS makes that key on its own
   software token and never sends the call to kyso).

With the module removed or broken, step 1 (modutil) or 2 (no token, no
certificate, no signature) fails the test.

Sanitizer builds: LibreOffice #1 runs with the ASan runtime preloaded,
like every program that loads the module; the macro takes LD_PRELOAD out
of its environment for the programs LibreOffice spawns (gpgme's gpgconf
deadlocks under the preload). LibreOffice #2, pdfsig and OpenSSL run
without it.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration', 'piv'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'clients-nss-openssl'))

import piv_helpers as h  # noqa: E402  (tests/integration/piv)
from piv_helpers import check, fail, log, rig  # noqa: E402
import card_profiles as cp  # noqa: E402

SOFFICE = '/usr/lib/libreoffice/program/soffice.bin'
WRITER = '/usr/lib/libreoffice/program/libswlo.so'
SCRIPT_PROVIDER = '/usr/lib/libreoffice/program/pythonscript.py'
MACRO = os.path.join(HERE, 'kyso_lo_macro.py')
MACRO_URL = ('vnd.sun.star.script:kyso_lo_macro.py$kyso_job'
             '?language=Python&location=user')

TEXT = 'kyso issue 6: signed in LibreOffice with the card.'
# com.sun.star.security.CertificateValidity
CERT_VALID = 0

SOFFICE_TIMEOUT = 60


def requirements():
    for path, pkg in ((SOFFICE, 'libreoffice-core-nogui'),
                      (WRITER, 'libreoffice-writer-nogui'),
                      (SCRIPT_PROVIDER, 'libreoffice-script-provider-python'),
                      ('/usr/lib/python3/dist-packages/uno.py', 'python3-uno')):
        if not os.path.exists(path):
            rig.skip('%s is not installed (%s)' % (path, pkg))
    for prog, pkg in (('pdfsig', 'poppler-utils'),
                      ('certutil', 'libnss3-tools'),
                      ('modutil', 'libnss3-tools')):
        if shutil.which(prog) is None:
            rig.skip('%s is not installed (%s)' % (prog, pkg))
    rig.require_module()


def nss(cmd, env, what):
    # NSS prompts on the terminal for what it lacks: setsid leaves it
    # none and stdin is empty, so a prompt fails at once, never hangs.
    return h.run_ok(['setsid', '-w'] + cmd, env, what, input='')


def clean_env(env):
    """An environment for programs that must not reach kyso: no
    sanitizer preload, no private pcscd."""
    e = rig.without_preload(env)
    e.pop('PCSCLITE_CSOCK_NAME', None)
    return e


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(proc):
    """Stop soffice.bin and everything it started: it leads its own
    session (start_new_session), and gpgme's helpers (gpgconf, gpg) stay
    in its process group even when re-parented."""
    pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.05)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        fail('soffice.bin (pid %d) survives SIGKILL' % proc.pid)


def run_soffice(work, name, job, env, dbdir):
    """Run kyso_lo_macro.py in a fresh headless LibreOffice (its own
    profile and HOME under `work`, NSS database `dbdir`) and return the
    macro's result. LibreOffice is gone when this returns, whatever
    happened."""
    profile = os.path.join(work, '%s-profile' % name)
    scripts = os.path.join(profile, 'user', 'Scripts', 'python')
    os.makedirs(scripts)
    shutil.copy(MACRO, scripts)
    home = os.path.join(work, '%s-home' % name)
    os.makedirs(home)
    result = os.path.join(work, '%s-result.json' % name)
    job = dict(job, result=result)
    jobfile = h.write(os.path.join(work, '%s-job.json' % name),
                      json.dumps(job))
    env = dict(env)
    env.update({'HOME': home, 'TMPDIR': home,
                'MOZILLA_CERTIFICATE_FOLDER': 'sql:' + dbdir,
                'KYSO_LO_JOB': jobfile,
                # No display: the headless VCL plug-in, no dbus session.
                'SAL_USE_VCLPLUGIN': 'svp'})
    env.pop('DISPLAY', None)
    env.pop('DBUS_SESSION_BUS_ADDRESS', None)
    cmd = [SOFFICE, '--headless', '--invisible', '--nologo', '--norestore',
           '--nodefault', '--nolockcheck', '--nofirststartwizard',
           '-env:UserInstallation=' + file_url(profile), MACRO_URL]
    logpath = os.path.join(work, '%s-soffice.log' % name)
    start = time.monotonic()
    deadline = start + SOFFICE_TIMEOUT
    with open(logpath, 'wb') as out:
        # soffice.bin exits 81 (EXITHELPER_NORMAL_RESTART) after setting
        # up a fresh profile, for its launcher (oosplash) to start it
        # again: do what oosplash does, once.
        for _ in range(2):
            proc = subprocess.Popen(rig._die_with_parent(cmd),
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            try:
                while (not os.path.exists(result) and proc.poll() is None
                       and time.monotonic() < deadline):
                    time.sleep(0.1)
                if os.path.exists(result):
                    # The macro asked LibreOffice to quit: a moment for it.
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                _kill_group(proc)
            if proc.returncode != 81 or os.path.exists(result):
                break
    elapsed = time.monotonic() - start
    with open(logpath, errors='replace') as f:
        output = f.read()[-4000:]
    if not os.path.exists(result):
        fail('LibreOffice (%s) gave no result (exit status %s after %.1f s; '
             'limit %d s)\n--- soffice output\n%s'
             % (name, proc.returncode, elapsed, SOFFICE_TIMEOUT, output))
    with open(result) as f:
        res = json.load(f)
    if not res.get('ok'):
        fail('the macro in LibreOffice (%s) failed:\n%s\n--- result\n%s\n'
             '--- soffice output\n%s'
             % (name, res.get('error'), json.dumps(res, indent=1), output))
    log('LibreOffice (%s): done in %.1f s' % (name, elapsed))
    return res


def file_url(path):
    return 'file://' + os.path.abspath(path)


# ------------------------------------------------------------- the PDF

def pdfsig(pdf, dbdir, env):
    return rig.run(['pdfsig', '-nssdir', 'sql:' + dbdir, pdf], env=env,
                   timeout=30)


def pdf_signature(pdf):
    """The /ByteRange and the DER CMS (/Contents) of the PDF's single
    signature (PDF 32000-1:2008, 12.8.1)."""
    data = h.read(pdf)
    ranges = re.findall(rb'/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]',
                        data)
    check(len(ranges) == 1, 'the PDF has %d /ByteRange entries, expected 1'
          % len(ranges))
    a, b, c, d = (int(x) for x in ranges[0])
    check(a == 0 and c + d == len(data) and b < c,
          'the signature /ByteRange %s does not cover the whole file of %d '
          'bytes but the signature' % (ranges[0], len(data)))
    # Between the ranges: <hex of the CMS, zero-padded>.
    hole = data[b:c].strip()
    check(hole[:1] == b'<' and hole[-1:] == b'>',
          'no hex string between the /ByteRange ranges')
    raw = bytes.fromhex(hole[1:-1].decode())
    return data[a:a + b] + data[c:c + d], der_prefix(raw), (a, b, c, d)


def der_prefix(raw):
    """The CMS SEQUENCE at the start of `raw` (the /Contents string is
    zero-padded after it), by its own length (X.690, 8.1.3)."""
    check(len(raw) >= 2 and raw[0] == 0x30, 'the PDF signature is not a '
          'BER/DER SEQUENCE')
    n = raw[1]
    if n == 0x80:
        # BER indefinite length (NSS's CMS encoder writes it): OpenSSL
        # reads the one object up to its end-of-contents octets and
        # ignores the padding after it.
        return raw
    if n < 0x80:
        length, head = n, 2
    else:
        k = n & 0x7F
        check(1 <= k <= 4 and len(raw) >= 2 + k, 'bad DER length in the PDF '
              'signature')
        length, head = int.from_bytes(raw[2:2 + k], 'big'), 2 + k
    check(head + length <= len(raw), 'the PDF signature overruns /Contents')
    return raw[:head + length]


def check_pdf(work, pdf, ca, dbdir, env, card_cert, cn):
    res = pdfsig(pdf, dbdir, env)
    out = res.stdout
    check(res.returncode == 0, 'pdfsig failed on the signed PDF:\n%s'
          % res.describe())
    check(len(re.findall(r'^Signature #\d+:', out, re.M)) == 1,
          'pdfsig does not find exactly one signature:\n%s' % out)
    check(re.search(r'^\s*- Signature Validation: Signature is Valid\.\s*$',
                    out, re.M),
          'pdfsig: the signature LibreOffice made with the card is not '
          'valid:\n%s' % out)
    check(re.search(r'^\s*- Signer Certificate Common Name: %s\s*$'
                    % re.escape(cn), out, re.M),
          'pdfsig: the signer is not %s:\n%s' % (cn, out))
    check(re.search(r'^\s*- Certificate Validation: Certificate is '
                    r'Trusted\.\s*$', out, re.M),
          'pdfsig does not trust the signer certificate with the demo CA '
          'as the only trust anchor:\n%s' % out)
    log('pdfsig: Signature is Valid, Certificate is Trusted, signer '
        'Common Name: %s' % cn)

    # The same signature through OpenSSL: the CMS over the byte ranges.
    signed, cms, _ = pdf_signature(pdf)
    content = h.write(os.path.join(work, 'pdf-signed-ranges.bin'), signed)
    p7 = h.write(os.path.join(work, 'pdf-signature.p7s'), cms)
    signer = os.path.join(work, 'pdf-signer.pem')
    res = rig.run(['openssl', 'cms', '-verify', '-binary', '-inform', 'DER',
                   '-in', p7, '-content', content, '-CAfile', ca,
                   '-purpose', 'any', '-signer', signer, '-out', os.devnull],
                  env=env)
    check(res.returncode == 0 and
          'Verification successful' in res.stdout + res.stderr,
          'openssl cms -verify refuses the PDF signature:\n%s'
          % res.describe())
    res = rig.run(['openssl', 'x509', '-in', signer, '-noout', '-fingerprint',
                   '-sha256'], env=env)
    want = rig.run(['openssl', 'x509', '-in', card_cert, '-noout',
                    '-fingerprint', '-sha256'], env=env)
    check(res.stdout and res.stdout == want.stdout,
          'the PDF signer certificate is not the card\'s certificate:\n'
          '%s\n%s' % (res.stdout, want.stdout))
    log('openssl cms -verify: the PDF\'s CMS signature over its /ByteRange '
        'verifies, signer is the card\'s certificate')


def check_pdf_tampered(work, pdf, dbdir, env):
    """One byte of the signed range changed: pdfsig must not call the
    signature valid."""
    data = bytearray(h.read(pdf))
    _, _, (a, b, c, d) = pdf_signature(pdf)
    # A byte of the binary comment after the header ("%PDF-1.x" then
    # "%" and 4 or more bytes >= 128, PDF 32000-1:2008, 7.5.2): signed,
    # and changing it leaves the file as readable as before.
    nl = data.find(b'\n%', 0, 32)
    check(0 < nl and nl + 3 < b and data[nl + 2] >= 0x80,
          'no binary comment line after the PDF header: %r'
          % bytes(data[:32]))
    pos = nl + 2
    data[pos] ^= 0x01
    bad = h.write(os.path.join(work, 'tampered.pdf'), bytes(data))
    res = pdfsig(bad, dbdir, env)
    out = res.stdout + res.stderr
    check('Signature is Valid' not in out,
          'pdfsig calls the signature of a tampered PDF valid: the check '
          'proves nothing:\n%s' % res.describe())
    # pdfsig still finds the signature, and says why it is not valid.
    verdict = re.search(r'- Signature Validation: (.*)', out)
    check(verdict, 'pdfsig gives no verdict on the tampered PDF:\n%s'
          % res.describe())
    log('pdfsig on the PDF with byte %d changed: "%s"'
        % (pos, verdict.group(1).strip()))


# ------------------------------------------------------------- the ODT

def tamper_odt(src, dst):
    """A copy of the ODT with the text in content.xml changed (the
    signature in META-INF/documentsignatures.xml kept)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        names = zin.namelist()
        check('META-INF/documentsignatures.xml' in names,
              'the signed ODT has no META-INF/documentsignatures.xml: %s'
              % names)
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == 'content.xml':
                check(b'signed in LibreOffice' in data,
                      'content.xml does not hold the document text')
                data = data.replace(b'signed in LibreOffice',
                                    b'forged in LibreOffice')
            zout.writestr(info, data)
    return dst


def cert_serial_hex(cert, env):
    out = h.openssl(env, 'x509', '-in', cert, '-noout', '-serial').stdout
    return out.strip().split('=', 1)[1].lower().lstrip('0')


def check_des3_refused(r):
    """LibreOffice's NSS (SecurityEnvironment_NssImpl::updateSlots) makes
    a DES3 key on every slot it uses: NSS sends C_GenerateKey
    (CKM_DES3_KEY_GEN) to a token that lists the mechanism and makes the
    key on its own internal token otherwise. kyso lists no such mechanism
    and refuses the call with CKR_MECHANISM_INVALID; the session stays
    usable."""
    P = h.pykcs11()
    lib = h.load_module()
    slot = h.slot_of(lib, r.reader_name(0))
    mechs = lib.getMechanismList(slot)
    check('CKM_DES3_KEY_GEN' not in mechs, 'kyso lists CKM_DES3_KEY_GEN: %s'
          % mechs)
    session = lib.openSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    try:
        h.expect_rv(lambda: session.generateKey(
            [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_DES3),
             (P.CKA_TOKEN, False)],
            mecha=P.Mechanism(P.CKM_DES3_KEY_GEN, None)),
            'CKR_MECHANISM_INVALID', 'C_GenerateKey(CKM_DES3_KEY_GEN)')
        h.call(session.getSessionInfo, 'C_GetSessionInfo after the refused '
               'C_GenerateKey')
    finally:
        session.closeSession()
    log('C_GenerateKey(CKM_DES3_KEY_GEN), what LibreOffice asks of a slot: '
        'CKR_MECHANISM_INVALID (not in the mechanism list either)')


def test():
    requirements()
    profile = cp.profile_name()
    work = h.workdir('clients-lo-%s' % profile)
    with rig.Rig(readers=2) as r:
        card = cp.start(r, work, profile)
        ca = card.ca
        env = r.env
        # The token label NSS will show (pkcs11-tool, as kyso reports it),
        # the signing certificate (read and CA-verified by card_profiles).
        token = card.token
        card_cert = card.cert_pem
        cn = card.cn

        # NSS database A: the resident's, with kyso registered.
        db_a = os.path.join(work, 'nssdb-signer')
        os.makedirs(db_a)
        nss(['certutil', '-N', '-d', 'sql:' + db_a, '--empty-password'], env,
            'certutil -N')
        nss(['modutil', '-dbdir', 'sql:' + db_a, '-add', 'kyso', '-libfile',
             rig.MODULE, '-force'], env, 'modutil -add kyso')
        res = nss(['modutil', '-dbdir', 'sql:' + db_a, '-list'], env,
                  'modutil -list')
        check(re.search(r'^\s*token:\s*%s\s*$' % re.escape(token),
                        res.stdout, re.M),
              'modutil -list does not show the token "%s":\n%s'
              % (token, res.stdout))

        # LibreOffice #1: sign with the card.
        odt = os.path.join(work, 'signed.odt')
        pdf = os.path.join(work, 'signed.pdf')
        before = card.card.apdu_count()
        res = run_soffice(work, 'signer', {
            'mode': 'sign', 'token': token, 'pin': card.pin, 'cn': cn,
            'serial': cert_serial_hex(card_cert, env),
            'text': TEXT, 'odt': odt, 'pdf': pdf}, env, db_a)
        used = card.card.apdu_count() - before
        check(res.get('logged_in'), 'NSS in LibreOffice does not report the '
              'token logged in: %s' % res)
        log('LibreOffice (kyso): logged in to "%s" through its NSS; personal '
            'certificates: %s; signed the ODT and exported the PDF with "%s" '
            '(%d APDUs to the card)' % (token, res['personal'],
                                        res['signer']['subject'], used))
        check(used > 0, 'the card served no APDU while LibreOffice signed')

        # NSS database B: only the demo CA, trusted. No module.
        cenv = clean_env(env)
        db_b = os.path.join(work, 'nssdb-verifier')
        os.makedirs(db_b)
        nss(['certutil', '-N', '-d', 'sql:' + db_b, '--empty-password'],
            cenv, 'certutil -N (verifier)')
        nss(['certutil', '-A', '-d', 'sql:' + db_b, '-n', 'kyso demo CA',
             '-t', 'C,C,C', '-i', ca], cenv, 'certutil -A (the demo CA)')

        # The PDF: pdfsig's verdict, then OpenSSL's.
        check_pdf(work, pdf, ca, db_b, cenv, card_cert, cn)
        check_pdf_tampered(work, pdf, db_b, cenv)

        # The ODT: a second LibreOffice, without kyso and without the
        # pcscd, verifies it and a tampered copy.
        bad_odt = tamper_odt(odt, os.path.join(work, 'tampered.odt'))
        res = run_soffice(work, 'verifier', {
            'mode': 'verify', 'odts': [odt, bad_odt]}, cenv, db_b)
        check(res['personal'] == [],
              'the verifying LibreOffice has personal certificates (it '
              'must not see the card): %s' % res['personal'])
        sigs = res['documents'][odt]
        check(len(sigs) == 1, 'LibreOffice #2 finds %d signatures in the '
              'signed ODT, expected 1: %s' % (len(sigs), sigs))
        s = sigs[0]
        check(s['valid'], 'LibreOffice #2: the ODT signature made with the '
              'card is not valid: %s' % s)
        check(s['signer'] and ('CN=%s' % cn) in s['signer']['subject'],
              'LibreOffice #2: the ODT signer is not CN=%s: %s' % (cn, s))
        serial = cert_serial_hex(card_cert, cenv)
        check(s['signer']['serial'].lstrip('0') == serial,
              'LibreOffice #2: the ODT signer certificate (serial %s) is not '
              'the card\'s certificate (serial %s)'
              % (s['signer']['serial'], serial))
        check(s['certificate_status'] == CERT_VALID,
              'LibreOffice #2: the signer certificate is not VALID with the '
              'demo CA trusted (CertificateValidity 0x%x)'
              % s['certificate_status'])
        log('LibreOffice (no kyso): ODT signature valid, certificate VALID, '
            'signer "%s"' % s['signer']['subject'])
        bad = res['documents'][bad_odt]
        check(len(bad) == 1 and not bad[0]['valid'],
              'LibreOffice #2 calls the signature of the tampered ODT valid: '
              'the check proves nothing: %s' % bad)
        log('LibreOffice (no kyso): the ODT with content.xml changed: '
            'signature invalid')

        check_des3_refused(r)


rig.main(test)
