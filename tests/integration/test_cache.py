#!/usr/bin/python3
"""The card cache (issue 8, drivers/cache.h): a second process meets a known
card with fewer APDUs and the same objects; a certificate changed by a
process that does not use the cache is never served stale; the cache holds
no PIN; a damaged cache file is ignored; `cache = no` turns it off."""

import glob
import os
import stat
import subprocess
import tempfile

import rig

PIN = '123456'


def test():
    rig.require_module()
    work = tempfile.mkdtemp(prefix='kyso-cache-')
    state = os.path.join(work, 'piv.state')
    no_cache_conf = os.path.join(work, 'no-cache.conf')
    with open(no_cache_conf, 'w') as f:
        f.write('cache = no\n')

    with rig.Rig(readers=1) as r:
        card = r.start_card(0, 'piv', state=state, provision='demo')
        cache_dir = os.path.join(r.env['XDG_CACHE_HOME'], 'kyso')

        def read_cert(cert_id, env=None):
            out = os.path.join(work, 'cert-%s.der' % cert_id)
            if os.path.exists(out):
                os.unlink(out)
            res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '--read-object',
                           '--type', 'cert', '--id', cert_id, '-o', out],
                          env=env or r.env, timeout=60)
            rig.check(res.returncode == 0, res.describe())
            with open(out, 'rb') as f:
                return f.read()

        def start_cost(env=None):
            """APDUs of a start that lists every object with its attributes,
            and the certificate of key 01."""
            before = card.apdu_count()
            res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '-O'],
                          env=env or r.env, timeout=60)
            rig.check(res.returncode == 0, res.describe())
            rig.check(res.stdout.count('Certificate Object') == 4,
                      'four certificates expected:\n' + res.stdout)
            return card.apdu_count() - before, res.stdout

        # Cold: nothing cached yet; the file appears, private to the user.
        cold, cold_list = start_cost()
        files = glob.glob(os.path.join(cache_dir, 'piv-*'))
        rig.check(len(files) == 1, 'one cache file expected in %s, found %s'
                  % (cache_dir, files))
        st = os.stat(files[0])
        rig.check(stat.S_IMODE(st.st_mode) & 0o077 == 0,
                  'the cache file is readable by others: %o' % st.st_mode)
        rig.check(stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700,
                  'the cache folder is not private')

        # Warm: the same objects, fewer APDUs.
        warm, warm_list = start_cost()
        rig.check(warm_list == cold_list, 'the warm start lists other objects:\n'
                  '%s\n---\n%s' % (cold_list, warm_list))
        rig.check(warm < cold, 'warm start %d APDUs, not fewer than cold %d'
                  % (warm, cold))
        rig.log('cold start %d APDUs, warm start %d' % (cold, warm))

        # A login and a signature leave no PIN in the cache.
        res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '--login', '--pin', PIN,
                       '--sign', '--id', '01', '--mechanism', 'SHA256-RSA-PKCS',
                       '--input-file', '/etc/hostname', '--output-file',
                       os.path.join(work, 'sig')], env=r.env, timeout=60)
        rig.check(res.returncode == 0, res.describe())
        for path in glob.glob(os.path.join(cache_dir, '*')):
            with open(path, 'rb') as f:
                data = f.read()
            for form in (PIN.encode(), PIN.encode() + b'\xff\xff'):
                rig.check(form not in data, 'the PIN is in the cache file %s' % path)

        # Someone else (a kyso without the cache: it neither reads nor
        # updates it) writes key 03's certificate over key 01's. The next
        # start with the cache must read the new one.
        old01, cert03 = read_cert('01'), read_cert('03')
        rig.check(old01 != cert03, 'the demo certificates 01 and 03 are the same')
        cert03_file = os.path.join(work, 'cert-03.der')
        other = dict(r.env, KYSO_CONF=no_cache_conf)
        res = rig.run(['pkcs11-tool', '--module', rig.MODULE, '--login', '--pin', PIN,
                       '--write-object', cert03_file, '--type', 'cert', '--id', '01'],
                      env=other, timeout=60)
        rig.check(res.returncode == 0, res.describe())
        rig.check(read_cert('01') == cert03,
                  'the cache served the old certificate 01 after another '
                  'process changed it')
        # And the cache learned the new one: the next start is warm again.
        again, _ = start_cost()
        rig.check(again == warm, 'after the change, a start costs %d APDUs, '
                  'warm was %d' % (again, warm))

        # A damaged cache file: ignored (a cold start), then replaced.
        for path in glob.glob(os.path.join(cache_dir, 'piv-*')):
            with open(path, 'r+b') as f:
                f.seek(40)
                f.write(b'\x00garbage\xff')
        damaged, _ = start_cost()
        rig.check(damaged == cold, 'with a damaged cache file a start cost %d '
                  'APDUs, a cold start %d' % (damaged, cold))
        rig.check(read_cert('01') == cert03, 'wrong certificate after a damaged cache')
        healed, _ = start_cost()
        rig.check(healed == warm, 'the damaged cache file was not replaced '
                  '(%d APDUs, warm %d)' % (healed, warm))

        # cache = no: every start is cold and nothing is written.
        fresh = os.path.join(work, 'fresh-cache')
        off = dict(r.env, KYSO_CONF=no_cache_conf, XDG_CACHE_HOME=fresh)
        first, _ = start_cost(off)
        second, _ = start_cost(off)
        rig.check(first == second and second > warm, 'with cache = no, starts '
                  'cost %d and %d APDUs, a warm start %d' % (first, second, warm))
        rig.check(not os.path.exists(os.path.join(fresh, 'kyso')) or
                  not os.listdir(os.path.join(fresh, 'kyso')),
                  'cache = no still wrote a cache file')
    subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    rig.main(test)
