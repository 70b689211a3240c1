"""The few PKCS#11 (v2.40) calls the benchmark makes, through ctypes.

ctypes rather than PyKCS11: the benchmark must decide exactly which C_ calls
a module sees (one C_Sign with a buffer of the right size, as NSS does, not
a length query first), and ctypes releases the GIL around each foreign call,
which the multi-threaded scenarios of issue 8 will need. Types follow the
LP64 Linux ABI of p11-kit's pkcs11.h: CK_ULONG is unsigned long, structures
are not packed.
"""

import ctypes

CK_ULONG = ctypes.c_ulong
CK_BYTE_P = ctypes.POINTER(ctypes.c_ubyte)

CKR_OK = 0x000
CKR_ATTRIBUTE_SENSITIVE = 0x011
CKR_ATTRIBUTE_TYPE_INVALID = 0x012
CKR_BUFFER_TOO_SMALL = 0x150
CKR_USER_NOT_LOGGED_IN = 0x101
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKR_TOKEN_NOT_RECOGNIZED = 0x0E1

CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_OS_LOCKING_OK = 0x2

CKU_SO = 0
CKU_USER = 1
CKU_CONTEXT_SPECIFIC = 2

CKO_DATA = 0
CKO_CERTIFICATE = 1
CKO_PUBLIC_KEY = 2
CKO_PRIVATE_KEY = 3

CKK_RSA = 0
CKK_EC = 3

CKM_RSA_PKCS = 0x0001
CKM_ECDSA = 0x1041

CKA_CLASS = 0x000
CKA_TOKEN = 0x001
CKA_PRIVATE = 0x002
CKA_LABEL = 0x003
CKA_APPLICATION = 0x010
CKA_VALUE = 0x011
CKA_OBJECT_ID = 0x012
CKA_CERTIFICATE_TYPE = 0x080
CKA_ISSUER = 0x081
CKA_SERIAL_NUMBER = 0x082
CKA_TRUSTED = 0x086
CKA_CERTIFICATE_CATEGORY = 0x087
CKA_KEY_TYPE = 0x100
CKA_SUBJECT = 0x101
CKA_ID = 0x102
CKA_SENSITIVE = 0x103
CKA_ENCRYPT = 0x104
CKA_DECRYPT = 0x105
CKA_WRAP = 0x106
CKA_UNWRAP = 0x107
CKA_SIGN = 0x108
CKA_SIGN_RECOVER = 0x109
CKA_VERIFY = 0x10A
CKA_DERIVE = 0x10C
CKA_MODULUS = 0x120
CKA_MODULUS_BITS = 0x121
CKA_PUBLIC_EXPONENT = 0x122
CKA_EXTRACTABLE = 0x162
CKA_EC_PARAMS = 0x180
CKA_EC_POINT = 0x181
CKA_ALWAYS_AUTHENTICATE = 0x202

# CK_UNAVAILABLE_INFORMATION as CK_ULONG.
UNAVAILABLE = (1 << (8 * ctypes.sizeof(CK_ULONG))) - 1


class P11Error(Exception):
    def __init__(self, call, rv):
        super().__init__('%s returned 0x%X' % (call, rv))
        self.call = call
        self.rv = rv


class _Version(ctypes.Structure):
    _fields_ = [('major', ctypes.c_ubyte), ('minor', ctypes.c_ubyte)]


class TokenInfo(ctypes.Structure):
    _fields_ = [('label', ctypes.c_char * 32),
                ('manufacturerID', ctypes.c_char * 32),
                ('model', ctypes.c_char * 16),
                ('serialNumber', ctypes.c_char * 16),
                ('flags', CK_ULONG),
                ('ulMaxSessionCount', CK_ULONG),
                ('ulSessionCount', CK_ULONG),
                ('ulMaxRwSessionCount', CK_ULONG),
                ('ulRwSessionCount', CK_ULONG),
                ('ulMaxPinLen', CK_ULONG),
                ('ulMinPinLen', CK_ULONG),
                ('ulTotalPublicMemory', CK_ULONG),
                ('ulFreePublicMemory', CK_ULONG),
                ('ulTotalPrivateMemory', CK_ULONG),
                ('ulFreePrivateMemory', CK_ULONG),
                ('hardwareVersion', _Version),
                ('firmwareVersion', _Version),
                ('utcTime', ctypes.c_char * 16)]


class _Attribute(ctypes.Structure):
    _fields_ = [('type', CK_ULONG),
                ('pValue', ctypes.c_void_p),
                ('ulValueLen', CK_ULONG)]


class _Mechanism(ctypes.Structure):
    _fields_ = [('mechanism', CK_ULONG),
                ('pParameter', ctypes.c_void_p),
                ('ulParameterLen', CK_ULONG)]


class _InitArgs(ctypes.Structure):
    _fields_ = [('CreateMutex', ctypes.c_void_p),
                ('DestroyMutex', ctypes.c_void_p),
                ('LockMutex', ctypes.c_void_p),
                ('UnlockMutex', ctypes.c_void_p),
                ('flags', CK_ULONG),
                ('pReserved', ctypes.c_void_p)]


class Module:
    """A loaded module. Every method raises P11Error unless the call
    returned CKR_OK (or, where said, one of the codes a caller expects)."""

    _SIGNATURES = {
        'C_Initialize': [ctypes.c_void_p],
        'C_Finalize': [ctypes.c_void_p],
        'C_GetSlotList': [ctypes.c_ubyte, ctypes.POINTER(CK_ULONG),
                          ctypes.POINTER(CK_ULONG)],
        'C_GetTokenInfo': [CK_ULONG, ctypes.POINTER(TokenInfo)],
        'C_OpenSession': [CK_ULONG, CK_ULONG, ctypes.c_void_p,
                          ctypes.c_void_p, ctypes.POINTER(CK_ULONG)],
        'C_CloseSession': [CK_ULONG],
        'C_Login': [CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG],
        'C_Logout': [CK_ULONG],
        'C_FindObjectsInit': [CK_ULONG, ctypes.POINTER(_Attribute), CK_ULONG],
        'C_FindObjects': [CK_ULONG, ctypes.POINTER(CK_ULONG), CK_ULONG,
                          ctypes.POINTER(CK_ULONG)],
        'C_FindObjectsFinal': [CK_ULONG],
        'C_GetAttributeValue': [CK_ULONG, CK_ULONG,
                                ctypes.POINTER(_Attribute), CK_ULONG],
        'C_SignInit': [CK_ULONG, ctypes.POINTER(_Mechanism), CK_ULONG],
        'C_Sign': [CK_ULONG, ctypes.c_char_p, CK_ULONG, ctypes.c_char_p,
                   ctypes.POINTER(CK_ULONG)],
    }

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        for name, args in self._SIGNATURES.items():
            f = getattr(self.lib, name)
            f.argtypes = args
            f.restype = CK_ULONG

    def _call(self, name, *args, ok=(CKR_OK,)):
        rv = getattr(self.lib, name)(*args)
        if rv not in ok:
            raise P11Error(name, rv)
        return rv

    def initialize(self, threads=True):
        if threads:
            args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
            self._call('C_Initialize', ctypes.byref(args))
        else:
            self._call('C_Initialize', None)

    def finalize(self):
        self._call('C_Finalize', None)

    def slot_list(self, token_present):
        count = CK_ULONG(0)
        self._call('C_GetSlotList', 1 if token_present else 0, None,
                   ctypes.byref(count))
        ids = (CK_ULONG * max(count.value, 1))()
        self._call('C_GetSlotList', 1 if token_present else 0, ids,
                   ctypes.byref(count))
        return list(ids[:count.value])

    def token_info(self, slot):
        info = TokenInfo()
        self._call('C_GetTokenInfo', slot, ctypes.byref(info))
        return info

    def open_session(self, slot, rw=False):
        flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        h = CK_ULONG(0)
        self._call('C_OpenSession', slot, flags, None, None, ctypes.byref(h))
        return h.value

    def close_session(self, session):
        self._call('C_CloseSession', session)

    def login(self, session, user, pin):
        pin = pin.encode() if isinstance(pin, str) else pin
        self._call('C_Login', session, user, pin, len(pin))

    def find(self, session, template=()):
        """C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal. `template`
        is a list of (type, value) with int (CK_ULONG) or bytes values."""
        keep = []
        attrs = (_Attribute * max(len(template), 1))()
        for i, (t, v) in enumerate(template):
            if isinstance(v, bool):
                raw = ctypes.c_ubyte(1 if v else 0)
            elif isinstance(v, int):
                raw = CK_ULONG(v)
            else:
                raw = ctypes.create_string_buffer(bytes(v), len(v))
            keep.append(raw)
            attrs[i].type = t
            attrs[i].pValue = ctypes.cast(ctypes.byref(raw), ctypes.c_void_p)
            attrs[i].ulValueLen = ctypes.sizeof(raw)
        self._call('C_FindObjectsInit', session, attrs, len(template))
        found = []
        batch = (CK_ULONG * 32)()
        try:
            while True:
                n = CK_ULONG(0)
                self._call('C_FindObjects', session, batch, len(batch),
                           ctypes.byref(n))
                if n.value == 0:
                    break
                found.extend(batch[:n.value])
        finally:
            self._call('C_FindObjectsFinal', session)
        return found

    def attributes(self, session, obj, types):
        """Read `types` the way NSS does (PK11_GetAttributes): one call for
        the lengths, one for the values. Returns {type: bytes} without the
        attributes the object does not have or will not reveal."""
        n = len(types)
        tmpl = (_Attribute * n)()
        for i, t in enumerate(types):
            tmpl[i].type = t
            tmpl[i].pValue = None
            tmpl[i].ulValueLen = 0
        self._call('C_GetAttributeValue', session, obj, tmpl, n,
                   ok=(CKR_OK, CKR_ATTRIBUTE_SENSITIVE,
                       CKR_ATTRIBUTE_TYPE_INVALID))
        want = [i for i in range(n) if tmpl[i].ulValueLen != UNAVAILABLE]
        if not want:
            return {}
        tmpl2 = (_Attribute * len(want))()
        bufs = []
        for j, i in enumerate(want):
            size = tmpl[i].ulValueLen
            b = ctypes.create_string_buffer(max(size, 1))
            bufs.append(b)
            tmpl2[j].type = types[i]
            tmpl2[j].pValue = ctypes.cast(b, ctypes.c_void_p)
            tmpl2[j].ulValueLen = size
        self._call('C_GetAttributeValue', session, obj, tmpl2, len(want),
                   ok=(CKR_OK, CKR_ATTRIBUTE_SENSITIVE,
                       CKR_ATTRIBUTE_TYPE_INVALID))
        out = {}
        for j, i in enumerate(want):
            if tmpl2[j].ulValueLen != UNAVAILABLE:
                out[types[i]] = bufs[j].raw[:tmpl2[j].ulValueLen]
        return out

    def sign_init(self, session, mechanism, key):
        mech = _Mechanism(mechanism, None, 0)
        self._call('C_SignInit', session, ctypes.byref(mech), key)

    def sign(self, session, data, max_len):
        """C_Sign with a buffer of `max_len` bytes: one call, no length
        query, as a caller that knows the key size makes it."""
        out = ctypes.create_string_buffer(max_len)
        n = CK_ULONG(max_len)
        self._call('C_Sign', session, data, len(data), out, ctypes.byref(n))
        return out.raw[:n.value]


def as_ulong(raw):
    """A CK_ULONG attribute value (native byte order) as an int."""
    return CK_ULONG.from_buffer_copy(raw.ljust(ctypes.sizeof(CK_ULONG),
                                               b'\0')).value


def as_bool(raw):
    return bool(raw) and raw[0] != 0
