"""A relay between a virtual card and its vpcd reader that counts the bytes
of every APDU.

kyso-vcard counts APDUs (SIGUSR1) but not bytes. The vpcd link is plain
TCP with 2-byte big-endian length-prefixed messages, so the benchmark puts
this relay in between: the card connects to the tap's port, the tap
connects to the reader's port and copies every message both ways, noting
for each command APDU its length, its INS and the length and status word
of the answer. A 1-byte message from vpcd is a control code and no APDU;
after code 4 (send the ATR) the card's next message is the ATR, not a
response.

Both sockets have TCP_NODELAY and re-arm TCP_QUICKACK before every read,
as the lab notes say a vpcd card must, so the tap adds only the time of
two local hops (tens of microseconds) to each APDU.
"""

import random
import socket
import threading

_CTRL_ATR = 4


# Above the range rig.py takes vpcd ports from (36000-46000), so that a tap
# never takes a port another test's rig has just found free.
TAP_PORT_MIN, TAP_PORT_MAX = 46000, 48000


def _free_port():
    for _ in range(100):
        port = random.randrange(TAP_PORT_MIN, TAP_PORT_MAX)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return 0


def _quickack(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    except (AttributeError, OSError):
        pass


def _recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        _quickack(sock)
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _recv_msg(sock):
    head = _recv_exact(sock, 2)
    if head is None:
        return None
    length = int.from_bytes(head, 'big')
    body = _recv_exact(sock, length) if length else b''
    if body is None:
        return None
    return head + body


def _get_data_tag(apdu):
    """The object a PIV GET DATA (INS CB, data 5C len tag) asks for, as
    hex; None for any other command. Nothing else of a command is kept:
    VERIFY carries the PIN."""
    if len(apdu) < 8 or apdu[1] != 0xCB or apdu[5] != 0x5C:
        return None
    n = apdu[6]
    if n == 0 or 7 + n > len(apdu):
        return None
    return apdu[7:7 + n].hex().upper()


class Apdu:
    """One command and its answer, as the trace keeps them."""

    __slots__ = ('ins', 'command_len', 'response_len', 'sw', 'tag')

    def __init__(self, ins, command_len, response_len, sw, tag):
        self.ins = ins
        self.command_len = command_len
        self.response_len = response_len
        self.sw = sw                # 'XXXX' hex
        self.tag = tag              # GET DATA's object tag (hex) or None


class Counters:
    """What went through the tap so far."""

    def __init__(self, apdus=0, command_bytes=0, response_bytes=0, trace=()):
        self.apdus = apdus
        self.command_bytes = command_bytes
        self.response_bytes = response_bytes
        self.trace = list(trace)     # [Apdu], in order

    @property
    def bytes(self):
        return self.command_bytes + self.response_bytes

    def since(self, earlier):
        return Counters(self.apdus - earlier.apdus,
                        self.command_bytes - earlier.command_bytes,
                        self.response_bytes - earlier.response_bytes,
                        self.trace[len(earlier.trace):])


class VpcdTap:
    """Listen on 127.0.0.1 (a free port, `self.port`); relay every card
    that connects to the vpcd reader on `reader_port`."""

    def __init__(self, reader_port, keep_trace=True):
        self.reader_port = reader_port
        self.keep_trace = keep_trace
        self._lock = threading.Lock()
        self._apdus = 0
        self._cmd_bytes = 0
        self._rsp_bytes = 0
        self._trace = []
        self._closing = False
        self._conns = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', _free_port()))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop,
                                          daemon=True)
        self._accepter.start()

    def counters(self):
        with self._lock:
            return Counters(self._apdus, self._cmd_bytes, self._rsp_bytes,
                            self._trace)

    def close(self):
        self._closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in list(self._conns):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # -- relaying

    def _accept_loop(self):
        while not self._closing:
            try:
                card, _ = self._listener.accept()
            except OSError:
                return
            try:
                reader = socket.create_connection(('127.0.0.1',
                                                   self.reader_port))
            except OSError:
                card.close()
                continue
            for s in (card, reader):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conns.append(s)
            link = {'want_atr': False, 'pending': None}
            threading.Thread(target=self._from_reader,
                             args=(reader, card, link), daemon=True).start()
            threading.Thread(target=self._from_card,
                             args=(card, reader, link), daemon=True).start()

    @staticmethod
    def _hang_up(a, b):
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _from_reader(self, reader, card, link):
        try:
            while True:
                msg = _recv_msg(reader)
                if msg is None:
                    break
                body = msg[2:]
                if len(body) == 1:
                    if body[0] == _CTRL_ATR:
                        link['want_atr'] = True
                else:
                    # A command APDU: CLA INS P1 P2 [Lc data] [Le].
                    ins = body[1] if len(body) > 1 else None
                    link['pending'] = (ins, len(body), _get_data_tag(body))
                    with self._lock:
                        self._apdus += 1
                        self._cmd_bytes += len(body)
                card.sendall(msg)
        except OSError:
            pass
        self._hang_up(reader, card)

    def _from_card(self, card, reader, link):
        try:
            while True:
                msg = _recv_msg(card)
                if msg is None:
                    break
                body = msg[2:]
                if link['want_atr']:
                    link['want_atr'] = False
                elif link['pending'] is not None:
                    ins, cmd_len, tag = link['pending']
                    link['pending'] = None
                    sw = body[-2:].hex().upper() if len(body) >= 2 else ''
                    with self._lock:
                        self._rsp_bytes += len(body)
                        if self.keep_trace:
                            self._trace.append(
                                Apdu(ins, cmd_len, len(body), sw, tag))
                reader.sendall(msg)
        except OSError:
            pass
        self._hang_up(card, reader)
