"""A Python macro that runs INSIDE LibreOffice (soffice.bin), for
test_libreoffice.py (issue 6). It is not run by the test's Python.

The test copies this file into a scratch profile's user/Scripts/python/
and starts soffice headless with the macro's URL on the command line:

    soffice.bin --headless ... \
        'vnd.sun.star.script:kyso_lo_macro.py$kyso_job?language=Python&location=user'

The job comes from the JSON file named by $KYSO_LO_JOB; the macro writes
its findings as JSON to job['result'] (atomically: a .tmp file renamed),
then asks LibreOffice to quit. Every failure is caught and written there
with its traceback, so the test never waits on a dialog.

Modes:
- 'sign' (LibreOffice with kyso in its NSS database): log the token in
  through LibreOffice's own NSS (headless LibreOffice cancels its PIN
  dialog, so this is the only way in unattended), find the token's
  certificate among LibreOffice's personal certificates, write a new
  Writer document as ODT and sign it (signDocumentWithCertificate), and
  export it as a signed PDF (writer_pdf_Export, SignPDF).
- 'verify' (a second LibreOffice, no PKCS#11 module, no pcscd): report
  its personal certificates (there must be none) and, for each ODT,
  what verifyDocumentContentSignatures says of every signature.
"""

import ctypes
import json
import os
import traceback

import uno
from com.sun.star.beans import PropertyValue

# com.sun.star.embed.ElementModes
READ = 1
READWRITE = 7          # READ | WRITE | SEEKABLE


def _pv(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def _url(path):
    return uno.systemPathToFileUrl(os.path.abspath(path))


def _storage(ctx, path, mode):
    # ZipFormat: the storage LibreOffice itself signs ODF documents in
    # (SfxMedium::GetZipStorageToSign_Impl). With the default
    # PackageFormat, signDocumentWithCertificate returns True and writes
    # no signature.
    factory = ctx.ServiceManager.createInstanceWithContext(
        'com.sun.star.embed.StorageFactory', ctx)
    args = (_url(path), mode,
            uno.Any('[]com.sun.star.beans.PropertyValue',
                    (_pv('StorageFormat', 'ZipFormat'),)))
    return uno.invoke(factory, 'createInstanceWithArguments', (args,))


def _security_environment(ctx):
    # Creating a security context initializes LibreOffice's NSS on the
    # database in $MOZILLA_CERTIFICATE_FOLDER (xmlsecurity's
    # nssinitializer), loading the PKCS#11 modules registered there.
    init = ctx.ServiceManager.createInstanceWithContext(
        'com.sun.star.xml.crypto.SEInitializer', ctx)
    sec = init.createSecurityContext('')
    return sec.getSecurityEnvironment()


def _nss():
    # The libnss3 LibreOffice has loaded (RTLD_NOLOAD: never a second
    # copy, which would be a separate, uninitialized NSS).
    lib = ctypes.CDLL('libnss3.so', mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    lib.NSS_IsInitialized.restype = ctypes.c_int
    lib.PK11_FindSlotByName.argtypes = [ctypes.c_char_p]
    lib.PK11_FindSlotByName.restype = ctypes.c_void_p
    lib.PK11_CheckUserPassword.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.PK11_CheckUserPassword.restype = ctypes.c_int
    lib.PK11_IsLoggedIn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.PK11_IsLoggedIn.restype = ctypes.c_int
    lib.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    lib.PK11_FreeSlot.restype = None
    lib.PORT_GetError.restype = ctypes.c_int
    return lib


def _login(token, pin, result):
    """C_Login on the token, through NSS's PK11_CheckUserPassword (what
    LibreOffice's PIN dialog would call). SECSuccess is 0."""
    nss = _nss()
    if not nss.NSS_IsInitialized():
        raise RuntimeError('LibreOffice has not initialized NSS')
    slot = nss.PK11_FindSlotByName(token.encode())
    if not slot:
        raise RuntimeError('NSS in LibreOffice sees no token "%s" (NSS '
                           'error %d)' % (token, nss.PORT_GetError()))
    try:
        rv = nss.PK11_CheckUserPassword(slot, pin.encode())
        if rv != 0:
            raise RuntimeError('PK11_CheckUserPassword on "%s" failed (NSS '
                               'error %d)' % (token, nss.PORT_GetError()))
        result['logged_in'] = bool(nss.PK11_IsLoggedIn(slot, None))
    finally:
        nss.PK11_FreeSlot(slot)


def _cert_info(cert):
    return {'subject': cert.SubjectName, 'issuer': cert.IssuerName,
            'serial': bytes(cert.SerialNumber.value).hex()}


def _sign(ctx, job, result):
    smgr = ctx.ServiceManager
    env = _security_environment(ctx)
    _login(job['token'], job['pin'], result)

    personal = env.getPersonalCertificates()
    result['personal'] = [c.SubjectName for c in personal]
    # By CN and, when the job gives it, serial number: a token may hold
    # several certificates of one subject (an ePass2003 from a Vietnamese
    # CA: the signing one and the encryption one).
    cert = None
    for c in personal:
        serial = bytes(c.SerialNumber.value).hex().lstrip('0')
        if (('CN=%s' % job['cn']) in c.SubjectName and
                job.get('serial') in (None, serial)):
            cert = c
    if cert is None:
        raise RuntimeError('no personal certificate with CN=%s (serial %s) '
                           'in LibreOffice: %s' % (job['cn'], job.get('serial'),
                                                   result['personal']))
    result['signer'] = _cert_info(cert)

    desktop = smgr.createInstanceWithContext('com.sun.star.frame.Desktop',
                                             ctx)
    doc = desktop.loadComponentFromURL('private:factory/swriter', '_blank',
                                       0, (_pv('Hidden', True),))
    try:
        doc.getText().setString(job['text'])
        doc.storeToURL(_url(job['odt']), (_pv('FilterName', 'writer8'),))
        # The export filter's options (filter/source/pdf/pdfexport.cxx):
        # SignPDF with the XCertificate to sign with; SignaturePassword is
        # what NSS's password callback gets if it still needs the PIN.
        data = (_pv('SignPDF', True),
                _pv('SignatureCertificate', cert),
                _pv('SignaturePassword', job['pin']),
                _pv('SignatureLocation', 'kyso test'),
                _pv('SignatureReason', 'issue 6'),
                _pv('SignatureContactInfo', 'kyso'))
        doc.storeToURL(_url(job['pdf']), (
            _pv('FilterName', 'writer_pdf_Export'),
            _pv('FilterData', uno.Any('[]com.sun.star.beans.PropertyValue',
                                      data))))
    finally:
        doc.close(True)
    if not os.path.exists(job['pdf']):
        raise RuntimeError('writer_pdf_Export wrote no PDF')

    dds = smgr.createInstanceWithArgumentsAndContext(
        'com.sun.star.security.DocumentDigitalSignatures', ('1.2', False),
        ctx)
    storage = _storage(ctx, job['odt'], READWRITE)
    try:
        ok = dds.signDocumentWithCertificate(cert, storage, None)
    finally:
        storage.dispose()
    result['odt_signed'] = bool(ok)
    if not ok:
        raise RuntimeError('signDocumentWithCertificate returned False')


def _verify(ctx, job, result):
    env = _security_environment(ctx)
    result['personal'] = [c.SubjectName for c in
                          env.getPersonalCertificates()]
    dds = ctx.ServiceManager.createInstanceWithArgumentsAndContext(
        'com.sun.star.security.DocumentDigitalSignatures', ('1.2', True),
        ctx)
    result['documents'] = {}
    for path in job['odts']:
        storage = _storage(ctx, path, READ)
        try:
            infos = dds.verifyDocumentContentSignatures(storage, None)
        finally:
            storage.dispose()
        sigs = []
        for i in infos:
            s = {'valid': bool(i.SignatureIsValid),
                 # com.sun.star.security.CertificateValidity (0 = VALID)
                 'certificate_status': int(i.CertificateStatus),
                 'signer': None}
            if i.Signer is not None:
                s['signer'] = _cert_info(i.Signer)
            sigs.append(s)
        result['documents'][path] = sigs


def kyso_job(*_args):
    ctx = XSCRIPTCONTEXT.getComponentContext()  # noqa: F821 (macro global)
    result = {'ok': False}
    job = {}
    # In sanitizer builds soffice starts with the ASan runtime preloaded
    # (it loads the sanitized module). The programs LibreOffice spawns
    # never load the module: signing starts gpgme, which runs gpgconf,
    # and a gpgconf with the runtime preloaded deadlocks on glibc's
    # locale lock (textdomain) at start-up. They get no preload.
    os.environ.pop('LD_PRELOAD', None)
    try:
        with open(os.environ['KYSO_LO_JOB']) as f:
            job = json.load(f)
        if job['mode'] == 'sign':
            _sign(ctx, job, result)
        else:
            _verify(ctx, job, result)
        result['ok'] = True
    except Exception:
        result['error'] = traceback.format_exc()
    finally:
        out = job.get('result') or os.environ.get('KYSO_LO_RESULT')
        if out:
            with open(out + '.tmp', 'w') as f:
                json.dump(result, f, indent=1)
            os.rename(out + '.tmp', out)
        try:
            XSCRIPTCONTEXT.getDesktop().terminate()  # noqa: F821
        except Exception:
            pass            # the test kills soffice after the result


g_exportedScripts = (kyso_job,)
