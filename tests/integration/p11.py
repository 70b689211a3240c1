"""A few PKCS#11 calls through ctypes, for the tests that need threads.

PyKCS11 (1.5.12 in Debian 12) keeps the GIL while a C_ call runs, so a
thread blocked in C_WaitForSlotEvent freezes the whole interpreter. ctypes
releases the GIL around every foreign call: one thread can wait while
another starts cards or calls C_Finalize.
"""

import ctypes

CKR_OK = 0x0
CKR_SLOT_ID_INVALID = 0x3
CKR_NO_EVENT = 0x8
CKR_CRYPTOKI_NOT_INITIALIZED = 0x190
CKR_BUFFER_TOO_SMALL = 0x150

CKF_DONT_BLOCK = 0x1
CKF_OS_LOCKING_OK = 0x2
CKF_TOKEN_PRESENT = 0x1
CKF_REMOVABLE_DEVICE = 0x2
CKF_HW_SLOT = 0x4

CK_ULONG = ctypes.c_ulong


def rv_name(rv):
    names = {v: k for k, v in globals().items()
             if k.startswith('CKR_') and isinstance(v, int)}
    return names.get(rv, '0x%X' % rv)


class _Version(ctypes.Structure):
    _fields_ = [('major', ctypes.c_ubyte), ('minor', ctypes.c_ubyte)]


class SlotInfo(ctypes.Structure):
    _fields_ = [('slotDescription', ctypes.c_char * 64),
                ('manufacturerID', ctypes.c_char * 32),
                ('flags', CK_ULONG),
                ('hardwareVersion', _Version),
                ('firmwareVersion', _Version)]

    @property
    def description(self):
        return self.slotDescription.decode(errors='replace').rstrip(' ')


class _InitArgs(ctypes.Structure):
    _fields_ = [('CreateMutex', ctypes.c_void_p),
                ('DestroyMutex', ctypes.c_void_p),
                ('LockMutex', ctypes.c_void_p),
                ('UnlockMutex', ctypes.c_void_p),
                ('flags', CK_ULONG),
                ('pReserved', ctypes.c_void_p)]


class Module:
    """The module's exported C_ functions, called directly."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        for name in ('C_Initialize', 'C_Finalize', 'C_GetSlotList',
                     'C_GetSlotInfo', 'C_WaitForSlotEvent'):
            getattr(self.lib, name).restype = CK_ULONG
        self.lib.C_Initialize.argtypes = [ctypes.c_void_p]
        self.lib.C_Finalize.argtypes = [ctypes.c_void_p]
        self.lib.C_GetSlotList.argtypes = [ctypes.c_ubyte,
                                           ctypes.POINTER(CK_ULONG),
                                           ctypes.POINTER(CK_ULONG)]
        self.lib.C_GetSlotInfo.argtypes = [CK_ULONG, ctypes.POINTER(SlotInfo)]
        self.lib.C_WaitForSlotEvent.argtypes = [CK_ULONG,
                                                ctypes.POINTER(CK_ULONG),
                                                ctypes.c_void_p]

    def initialize(self, threads=True):
        """C_Initialize; with `threads`, CKF_OS_LOCKING_OK (the caller uses
        the module from several threads)."""
        if not threads:
            return self.lib.C_Initialize(None)
        args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
        return self.lib.C_Initialize(ctypes.byref(args))

    def finalize(self):
        return self.lib.C_Finalize(None)

    def slot_list(self, token_present=False):
        """(rv, [slot ids]): the length query with NULL first, as the
        spec's two-call convention has it."""
        count = CK_ULONG(0)
        rv = self.lib.C_GetSlotList(1 if token_present else 0, None,
                                    ctypes.byref(count))
        if rv != CKR_OK:
            return rv, []
        ids = (CK_ULONG * max(count.value, 1))()
        rv = self.lib.C_GetSlotList(1 if token_present else 0, ids,
                                    ctypes.byref(count))
        return rv, list(ids[:count.value]) if rv == CKR_OK else []

    def slot_info(self, slot):
        info = SlotInfo()
        rv = self.lib.C_GetSlotInfo(slot, ctypes.byref(info))
        return rv, info

    def wait_for_slot_event(self, flags=0):
        """(rv, slot id)."""
        slot = CK_ULONG(0xFFFFFFFF)
        rv = self.lib.C_WaitForSlotEvent(flags, ctypes.byref(slot), None)
        return rv, slot.value
