"""The cards every client-program test of issue 6 runs against: one
profile per virtual card kyso supports, so that a test script is written
once and meson registers it once per card (`test_nss.py piv`,
`test_nss.py epass2003` -> clients_nss_piv, clients_nss_epass2003).

A profile says what the card holds: how kyso-vcard provisions it, the
user PIN, the signing key's certificate (label, subject CN) and the labels
of all its certificates. `start(r, work, name)` puts the card in a rig's
reader and reads its signing certificate the way that does not trust
kyso where it can:

- piv: `kyso-vcard --type piv --provision demo`; the 9A key (RSA-2048,
  CKA_ID 01, "kyso demo 9A"); certificates read with OpenSC's own module.
- epass2003: `kyso-vcard --type epass2003 --provision vendor`, Feitian's
  vendor layout (ENTERSAFE-ESPK) as Vietnamese CAs' tokens carry it
  (docs/epass2003.md): token "VNPT-CA", the signing key RSA-2048 whose
  certificate is "NGUYỄN VĂN AN", and an encryption key "NGUYỄN VĂN AN
  (mã hóa)". OpenSC does not read this layout, so the certificates are
  read through kyso; what makes them trustworthy is checked without kyso:
  each verifies against the demo CA kyso-vcard wrote next to its state
  file, has the expected subject CN, and its CKA_ID is the SHA-1 of its
  own RSA modulus (computed by OpenSSL), as Feitian's middleware stores
  it. The CKA_ID is random per provisioning, so it is found here.

Every test takes the profile name as its first argument.
"""

import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration', 'piv'))

import piv_helpers as h  # noqa: E402  (tests/integration/piv)
from piv_helpers import check, fail, log, rig  # noqa: E402

PROFILES = {
    'piv': {
        'vcard': 'piv', 'provision': 'demo', 'pin': '123456',
        'token': None,                      # 'PIV_II ...': read from kyso
        'cert_label': 'Certificate for PIV Authentication',
        'cn': 'kyso demo 9A',
        'key_id': '01',
        'cert_labels': [k['cert_label'] for k in h.DEMO_KEYS],
        'opensc_reads': True,
    },
    'epass2003': {
        'vcard': 'epass2003', 'provision': 'vendor', 'pin': '12345678',
        'token': 'VNPT-CA',
        'cert_label': 'NGUYỄN VĂN AN',
        'cn': 'NGUYỄN VĂN AN',
        'key_id': None,                     # SHA-1 of the modulus
        'cert_labels': ['NGUYỄN VĂN AN', 'NGUYỄN VĂN AN (mã hóa)'],
        'opensc_reads': False,
    },
}


def profile_name(argv=None):
    """The card profile named on the command line (argv[1])."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] not in PROFILES:
        fail('usage: %s CARD (one of %s)'
             % (os.path.basename(argv[0]), ', '.join(sorted(PROFILES))))
    return argv[1]


class Card:
    """A card of one profile in a rig's reader, with what the tests need
    to know about it. Attributes: name, pin, card (the kyso-vcard
    process), state, ca (the demo CA PEM), token (its label as kyso
    reports it), cert_label, cn, key_id (hex, lowercase), key_id_bytes,
    cert_pem / cert_der (the signing certificate), subject (as `openssl
    x509 -subject -nameopt oneline,-esc_msb` prints it, UTF-8 as is, as
    Python's ssl module gives it), sha256 (of the DER), certs ({label: PEM}
    for every certificate, each verified against the demo CA), ders
    ({label: DER path}), ids
    ({label: hex CKA_ID})."""

    def __init__(self, r, work, name, reader=0):
        p = PROFILES[name]
        self.name = name
        self.profile = p
        self.r = r
        self.work = work
        self.reader = reader
        self.pin = p['pin']
        self.cert_label = p['cert_label']
        self.cn = p['cn']
        self.cert_labels = list(p['cert_labels'])
        self.state = os.path.join(work, '%s.state' % name)
        self.card = r.start_card(reader, p['vcard'], state=self.state,
                                 provision=p['provision'])
        self.ca = self.state + '.ca.pem'
        check(os.path.exists(self.ca), 'kyso-vcard --type %s --provision %s '
              'wrote no CA certificate at %s'
              % (p['vcard'], p['provision'], self.ca))
        self.token = self._token_label()
        if p['token'] is not None:
            check(self.token == p['token'], 'kyso names the %s token "%s", '
                  'expected "%s"' % (name, self.token, p['token']))
        self.env = rig.without_preload(r.env)
        if p['opensc_reads']:
            self.ids = {k['cert_label']: '%02x' % k['id'] for k in h.DEMO_KEYS}
        else:
            self.ids = self._ids_from_kyso()
        self.certs = {}
        self.ders = {}
        for label in self.cert_labels:
            self.certs[label] = self._read_cert(label)
            self.ders[label] = self.certs[label][:-4] + '.der'
        self.key_id = self.ids[self.cert_label]
        self.key_id_bytes = bytes.fromhex(self.key_id)
        self.cert_pem = self.certs[self.cert_label]
        self.cert_der = self.ders[self.cert_label]
        self.subject = h.openssl(self.env, 'x509', '-in', self.cert_pem,
                                 '-noout', '-subject', '-nameopt',
                                 'oneline,-esc_msb').stdout.strip().split('=', 1)[1].strip()
        self.sha256 = hashlib.sha256(h.read(self.cert_der)).hexdigest()
        log('%s: token "%s", signing key id %s, certificate "%s" (CN = %s), '
            'verified against the demo CA' % (name, self.token, self.key_id,
                                              self.cert_label, self.cn))

    def _token_label(self):
        res = h.tool(self.r.env, '-L', what='pkcs11-tool -L')
        for s in rig.parse_slots(res.stdout):
            if (s['description'] == self.r.reader_name(self.reader) and
                    s['token']):
                return s['token']['token label']
        fail('pkcs11-tool -L shows no token in %s:\n%s'
             % (self.r.reader_name(self.reader), res.describe()))

    def _ids_from_kyso(self):
        """{certificate label: CKA_ID} from kyso's listing before login."""
        res = h.tool(self.r.env, '-O', '--type', 'cert',
                     what='pkcs11-tool -O --type cert')
        ids = {}
        for o in h.parse_objects(res.stdout):
            if o['kind'] == 'cert' and 'label' in o and 'ID' in o:
                ids[o['label']] = o['ID'].lower()
        check(sorted(ids) == sorted(self.cert_labels), 'kyso lists the '
              'certificates %s, expected %s:\n%s'
              % (sorted(ids), sorted(self.cert_labels), res.stdout))
        return ids

    def _read_cert(self, label):
        key_id = self.ids[label]
        stem = os.path.join(self.work, 'card-%s-%s' % (self.name, key_id[:8]))
        der = stem + '.der'
        pem = stem + '.pem'
        if self.profile['opensc_reads']:
            h.tool(h.opensc_env(self.r, self.work), '--read-object', '--type',
                   'cert', '--id', key_id, '-o', der, module=h.OPENSC_MODULE,
                   what='OpenSC reading certificate %s' % key_id)
        else:
            h.tool(self.r.env, '--read-object', '--type', 'cert', '--id',
                   key_id, '-o', der,
                   what='pkcs11-tool reading certificate "%s"' % label)
        h.openssl(self.env, 'x509', '-inform', 'DER', '-in', der, '-out', pem)
        res = rig.run(['openssl', 'verify', '-CAfile', self.ca, pem],
                      env=self.env)
        check(res.returncode == 0 and ': OK' in res.stdout,
              'the %s certificate "%s" does not verify against the demo CA:'
              '\n%s' % (self.name, label, res.describe()))
        if not self.profile['opensc_reads']:
            # Feitian's CKA_ID: SHA-1 of the modulus (computed by OpenSSL).
            out = h.openssl(self.env, 'x509', '-in', pem, '-noout',
                            '-modulus').stdout
            m = re.search(r'Modulus=([0-9A-Fa-f]+)', out)
            check(m, 'no RSA modulus in "%s":\n%s' % (label, out))
            want = hashlib.sha1(bytes.fromhex(m.group(1))).hexdigest()
            check(key_id == want, 'the CKA_ID of "%s" is %s, not the SHA-1 '
                  'of its modulus %s' % (label, key_id, want))
        if label == self.cert_label:
            cn = cert_cn(self.env, pem)
            check(cn == self.cn, 'the %s certificate "%s" is CN = %s, '
                  'expected %s' % (self.name, label, cn, self.cn))
        return pem

    def pubkey_pem(self, label=None):
        """The public key of a certificate (the signing one by default),
        as PEM text."""
        return h.openssl(self.env, 'x509', '-in',
                         self.certs[label or self.cert_label], '-noout',
                         '-pubkey').stdout

    def id_uri(self, key_id=None):
        """The CKA_ID as an RFC 7512 `id=` value (%XX per byte)."""
        return ''.join('%%%02X' % b for b in
                       bytes.fromhex(key_id or self.key_id))


def start(r, work, name, reader=0):
    """Put the card of profile `name` in `reader`: see Card."""
    return Card(r, work, name, reader)


def cert_cn(env, pem):
    """The subject CN of a PEM certificate, UTF-8 as is (OpenSSL's
    oneline form without escaping bytes over 0x7F)."""
    out = h.openssl(env, 'x509', '-in', pem, '-noout', '-subject',
                    '-nameopt', 'oneline,-esc_msb').stdout.strip()
    m = re.search(r'(?:=|, )CN = (.*?)(?:, [A-Za-z]+ = .*)?$', out)
    return m.group(1) if m else None
