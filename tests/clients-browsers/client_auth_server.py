#!/usr/bin/python3
"""An HTTPS server on 127.0.0.1 that requires a client certificate, for
the browser tests of issue 6. Standard library only; it never loads kyso.

    client_auth_server.py --ca CA --cert CERT --key KEY [--tls 1.3|1.2]
                          [--next URL]

It binds a free port the kernel picks and prints `listening on PORT`.
Every TLS handshake must present a certificate issued by CA
(ssl.CERT_REQUIRED: OpenSSL checks the chain and the client's
CertificateVerify signature, or the handshake fails). For each handshake
it prints one line (the line the tests assert):

    client certificate: subject="O = kyso, CN = kyso demo 9A" sha256=HEX protocol=TLSv1.3
    handshake failed: <OpenSSL's reason>

The subject is printed the way `openssl x509 -noout -subject` prints it.
The page it serves names the client certificate; with --next it sends
the browser on to URL (a meta refresh). --tls 1.3 (the default) allows
TLS 1.3 only, --tls 1.2 TLS 1.2 only; the signature algorithms the
server asks of the client are left to the OpenSSL configuration
(OPENSSL_CONF, ClientSignatureAlgorithms).
"""

import argparse
import hashlib
import html
import socket
import ssl
import sys
import threading

# The short names `openssl x509 -subject` prints (RFC 4514 and OpenSSL's).
SHORT = {
    'countryName': 'C',
    'stateOrProvinceName': 'ST',
    'localityName': 'L',
    'organizationName': 'O',
    'organizationalUnitName': 'OU',
    'commonName': 'CN',
    'emailAddress': 'emailAddress',
    'serialNumber': 'serialNumber',
    'domainComponent': 'DC',
    'userId': 'UID',
}

_print_lock = threading.Lock()


def say(line):
    with _print_lock:
        print(line, flush=True)


def subject_text(cert):
    parts = []
    for rdn in cert.get('subject', ()):
        for name, value in rdn:
            parts.append('%s = %s' % (SHORT.get(name, name), value))
    return ', '.join(parts)


def read_request(conn, limit=65536):
    data = b''
    while b'\r\n\r\n' not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Server:
    def __init__(self, args):
        self.args = args
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.load_verify_locations(cafile=args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.tls == '1.2':
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        # The server speaks HTTP/1.1 only: say so in ALPN (no h2).
        ctx.set_alpn_protocols(['http/1.1'])
        self.ctx = ctx

    def handle(self, sock):
        sock.settimeout(30)
        try:
            conn = self.ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            say('handshake failed: %s' % (getattr(e, 'reason', None) or e))
            sock.close()
            return
        try:
            der = conn.getpeercert(binary_form=True)
            cert = conn.getpeercert()
            subject = subject_text(cert)
            say('client certificate: subject="%s" sha256=%s protocol=%s'
                % (subject, hashlib.sha256(der).hexdigest(), conn.version()))
            req = read_request(conn)
            if not req:
                return
            line = req.split(b'\r\n', 1)[0].decode(errors='replace')
            say('request: %s' % line)
            if not line.startswith('GET / '):
                self.send(conn, 404, 'text/plain', b'not found\n')
                return
            head = ''
            if self.args.next:
                head = ('<meta http-equiv="refresh" content="0;url=%s">'
                        % html.escape(self.args.next, quote=True))
            body = ('<!DOCTYPE html><html><head><title>kyso client auth'
                    '</title>%s</head><body><p>client certificate: %s (%s)'
                    '</p></body></html>\n'
                    % (head, html.escape(subject), conn.version()))
            self.send(conn, 200, 'text/html; charset=utf-8', body.encode())
        except (ssl.SSLError, OSError) as e:
            say('connection error: %s' % e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def send(conn, status, ctype, body):
        conn.sendall(('HTTP/1.1 %d %s\r\nContent-Type: %s\r\n'
                      'Content-Length: %d\r\nConnection: close\r\n'
                      'Cache-Control: no-store\r\n\r\n'
                      % (status, 'OK' if status == 200 else 'Not Found',
                         ctype, len(body))).encode() + body)

    def serve(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(16)
        say('listening on %d' % lsock.getsockname()[1])
        while True:
            sock, _ = lsock.accept()
            threading.Thread(target=self.handle, args=(sock,),
                             daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--ca', required=True)
    p.add_argument('--cert', required=True)
    p.add_argument('--key', required=True)
    p.add_argument('--tls', choices=('1.2', '1.3'), default='1.3')
    p.add_argument('--next')
    args = p.parse_args()
    try:
        Server(args).serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
