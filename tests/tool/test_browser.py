#!/usr/bin/python3
"""Issue 6, point 3: kyso browser register / unregister / status, checked
with NSS itself, in a scratch HOME:

- two Firefox profiles (profiles.ini, databases made by `certutil -N`), a
  Thunderbird profile, a snap Firefox folder, no ~/.pki/nssdb;
- register: every profile and Chromium's new ~/.pki/nssdb list kyso with
  its library path (`modutil -list`, after NSS first opened the new
  database read-write as Chromium does), and NSS lists the demo card's
  certificates without a PIN (`certutil -L -h TOKEN`: kyso's entry marks
  its slots PublicCerts); the snap message is printed;
- register again: nothing changes (one entry, the files byte for byte);
  a stale entry (another path, twice) becomes one current entry, the
  file's mode kept;
- status in text and JSON; unregister: kyso gone, NSS still opens every
  database; an old-format profile and a running Firefox are reported;
- refusals that change nothing: a database file owned by another user,
  a HOME owned by another user (both with `chown nobody`, as root), a
  module path that does not exist.
"""

import json
import os
import re
import shutil

import tool_helpers as h
from tool_helpers import check, log, rig

NOBODY = 65534


def nss(cmd, env, what):
    """An NSS tool with no terminal and empty stdin: a PIN prompt fails at
    once instead of hanging (certutil -L -h must not need one)."""
    res = rig.run(['setsid', '-w'] + cmd, env=env, input='', timeout=60)
    check(res.returncode == 0, '%s failed:\n%s' % (what, res.describe()))
    return res


def kyso_stanzas(dbdir):
    """The stanzas of pkcs11.txt that load kyso's module (by name or by
    library file), each as a dict of its keys."""
    with open(os.path.join(dbdir, 'pkcs11.txt')) as f:
        text = f.read()
    found = []
    for block in re.split(r'\n\s*\n', text):
        keys = dict(l.split('=', 1) for l in block.splitlines() if '=' in l)
        if keys.get('name') == 'kyso' or \
                keys.get('library', '').endswith('/kyso-pkcs11.so'):
            found.append(keys)
    return found


def modutil_list(env, dbdir):
    res = nss(['modutil', '-dbdir', 'sql:' + dbdir, '-list'], env,
              'modutil -list %s' % dbdir)
    check('NSS Internal PKCS #11 Module' in res.stdout,
          'modutil -list %s: the internal module is gone:\n%s'
          % (dbdir, res.stdout))
    return res.stdout


def check_registered(env, dbdir, module, token):
    out = modutil_list(env, dbdir)
    m = re.search(r'^\s*\d+\. kyso\n\s*library name: (.*)$', out, re.M)
    check(m and m.group(1).strip() == module,
          'modutil -list %s does not show kyso with library %s:\n%s'
          % (dbdir, module, out))
    check(re.search(r'^\s*token:\s*%s\s*$' % re.escape(token), out, re.M),
          'modutil -list %s: kyso shows no token "%s":\n%s'
          % (dbdir, token, out))
    st = kyso_stanzas(dbdir)
    check(len(st) == 1, '%s/pkcs11.txt has %d kyso entries: %s'
          % (dbdir, len(st), st))


def check_unregistered(env, dbdir):
    out = modutil_list(env, dbdir)
    check('kyso' not in out, 'modutil -list %s still shows kyso:\n%s'
          % (dbdir, out))
    check(kyso_stanzas(dbdir) == [], '%s/pkcs11.txt still loads kyso'
          % dbdir)
    nss(['certutil', '-L', '-d', 'sql:' + dbdir], env,
        'certutil -L (NSS opens the database after unregister)')


def write_profiles_ini(base, profiles):
    """profiles.ini as Firefox writes it: [ProfileN] Name, IsRelative,
    Path, plus an [Install...] section and [General]."""
    lines = ['[Install4F96D1932A9F858E]', 'Default=%s' % profiles[0][1], '']
    for i, (name, path, relative) in enumerate(profiles):
        lines += ['[Profile%d]' % i, 'Name=%s' % name,
                  'IsRelative=%d' % (1 if relative else 0), 'Path=%s' % path]
        if i == 0:
            lines.append('Default=1')
        lines.append('')
    lines += ['[General]', 'StartWithLastProfile=1', 'Version=2', '']
    h.write(os.path.join(base, 'profiles.ini'), '\n'.join(lines))


def new_db(env, dbdir):
    os.makedirs(dbdir, exist_ok=True)
    nss(['certutil', '-N', '-d', 'sql:' + dbdir, '--empty-password'], env,
        'certutil -N %s' % dbdir)


def test():
    h.require_tool()
    rig.require_module()
    work = h.workdir('browser')
    module = os.path.realpath(rig.MODULE)
    home = os.path.join(work, 'home')
    ff = os.path.join(home, '.mozilla', 'firefox')
    tb = os.path.join(home, '.thunderbird')
    nssdb = os.path.join(home, '.pki', 'nssdb')
    with rig.Rig(readers=1) as r:
        h.start_demo_card(r, work)
        env = h.english_env(r.env)
        env['HOME'] = home
        token = None

        # A scratch HOME: two Firefox profiles (one by an absolute path),
        # one Thunderbird profile, a snap Firefox, no ~/.pki.
        prof_a = os.path.join(ff, 'a1b2c3d4.default-esr')
        prof_b = os.path.join(work, 'elsewhere', 'work-profile')
        prof_t = os.path.join(tb, 'x9y8z7.default-esr')
        for d in (prof_a, prof_b, prof_t):
            new_db(env, d)
        write_profiles_ini(ff, [('default-esr', 'a1b2c3d4.default-esr', True),
                                ('work', prof_b, False)])
        write_profiles_ini(tb, [('default-esr', 'x9y8z7.default-esr', True)])
        os.makedirs(os.path.join(home, 'snap', 'firefox', 'common'))
        check(not os.path.exists(os.path.join(home, '.pki')), 'setup: ~/.pki')
        os.chmod(home, 0o755)

        # status before: nothing registered, Chromium's database not there.
        doc = h.kyso_json(env, 'browser', 'status')
        check(doc['module'] == module, 'status: module %s, expected %s'
              % (doc['module'], module))
        dbs = {d['path']: d for d in doc['databases']}
        check(set(dbs) == {prof_a, prof_b, prof_t, nssdb},
              'status lists %s' % sorted(dbs))
        check(not any(d['registered'] for d in dbs.values()), doc)
        check(dbs[nssdb]['state'] == 'new' and dbs[prof_a]['state'] == 'ok',
              'status states: %s' % doc)
        check(dbs[prof_a]['application'] == 'firefox' and
              dbs[prof_a]['profile'] == 'default-esr' and
              dbs[prof_t]['application'] == 'thunderbird' and
              dbs[nssdb]['application'] == 'chromium', doc)
        check(doc['sandboxed'] == [{'application': 'firefox', 'packaging': 'snap',
                                    'path': os.path.join(home, 'snap', 'firefox'),
                                    'package': 'firefox-esr'}],
              'status: sandboxed %s' % doc['sandboxed'])

        # register.
        res = h.kyso(env, 'browser', 'register', expect='ok')
        log(res.stdout.rstrip())
        check(res.stdout.count(': added') == 4,
              'register: not 4 databases added:\n' + res.describe())
        check('snap package' in res.stderr and 'apt install firefox-esr' in res.stderr,
              'register: no message about the snap Firefox:\n' + res.describe())
        check(os.stat(nssdb).st_mode & 0o777 == 0o700,
              '~/.pki/nssdb made with mode %o' % (os.stat(nssdb).st_mode & 0o777))
        # Chromium's first start: NSS opens the new database read-write
        # and makes cert9.db and key4.db next to kyso's pkcs11.txt.
        check(not os.path.exists(os.path.join(nssdb, 'cert9.db')), 'cert9.db?')
        nss(['certutil', '-N', '-d', 'sql:' + nssdb, '--empty-password'], env,
            'NSS opening the new ~/.pki/nssdb read-write')
        for d in (prof_a, prof_b, prof_t, nssdb):
            if token is None:
                out = modutil_list(env, d)
                m = re.search(r'^\s*token:\s*(YubiKey PIV #\d+)\s*$', out, re.M)
                check(m, 'modutil -list: no YubiKey token:\n' + out)
                token = m.group(1)
            check_registered(env, d, module, token)
        log('modutil -list: kyso (%s) with token "%s" in both Firefox profiles, '
            'Thunderbird and ~/.pki/nssdb' % (module, token))

        # NSS lists the card's certificates without a PIN (PublicCerts).
        res = nss(['certutil', '-L', '-d', 'sql:' + prof_a, '-h', token], env,
                  'certutil -L -h "%s"' % token)
        listed = sorted(set(re.findall(r'^%s:(Certificate for [^\n]*?)\s+\S*,\S*,\S*$'
                                       % re.escape(token), res.stdout, re.M)))
        check(len(listed) == 4 and 'Certificate for PIV Authentication' in listed,
              'certutil -L -h lists %s:\n%s' % (listed, res.stdout))
        log('certutil -L -h without PIN: %s' % ', '.join(listed))

        # register again: nothing changes.
        before = {d: h.read(os.path.join(d, 'pkcs11.txt'))
                  for d in (prof_a, prof_b, prof_t, nssdb)}
        doc = h.kyso_json(env, 'browser', 'register')
        check(all(d['action'] == 'unchanged' and d['registered'] and d['current']
                  for d in doc['databases']), 'register again: %s' % doc)
        for d, data in before.items():
            check(h.read(os.path.join(d, 'pkcs11.txt')) == data,
                  'register again changed %s/pkcs11.txt' % d)
        res = h.kyso(env, 'browser', 'register', expect='ok')
        check(res.stdout.count('already registered') == 4, res.describe())

        # A stale entry (an older path, twice, one under another name) in a
        # file of mode 0640 becomes one current entry, mode kept.
        p11 = os.path.join(prof_b, 'pkcs11.txt')
        text = h.read(p11).decode()
        stale = ('library=/opt/old/lib/pkcs11/kyso-pkcs11.so\nname=kyso\n\n'
                 'library=/usr/lib/pkcs11/kyso-pkcs11.so\nname=Smart card\n\n')
        text = re.sub(r'library=[^\n]*kyso-pkcs11.so\nname=kyso\nNSS=[^\n]*\n\n',
                      stale, text)
        h.write(p11, text)
        os.chmod(p11, 0o640)
        check(len(kyso_stanzas(prof_b)) == 2, 'setup: stale entries')
        doc = h.kyso_json(env, 'browser', 'status')
        db = [d for d in doc['databases'] if d['path'] == prof_b][0]
        check(db['registered'] and not db['current'] and
              db['library'] == '/opt/old/lib/pkcs11/kyso-pkcs11.so',
              'status of a stale entry: %s' % db)
        res = h.kyso(env, 'browser', 'status', expect='ok')
        check('registered with another path: /opt/old/lib/pkcs11/kyso-pkcs11.so'
              in res.stdout, res.describe())
        doc = h.kyso_json(env, 'browser', 'register')
        db = [d for d in doc['databases'] if d['path'] == prof_b][0]
        check(db['action'] == 'updated' and db['current'], 'stale: %s' % db)
        check(os.stat(p11).st_mode & 0o777 == 0o640,
              'pkcs11.txt mode not kept: %o' % (os.stat(p11).st_mode & 0o777))
        check_registered(env, prof_b, module, token)
        check(not [f for f in os.listdir(prof_b) if 'kyso-' in f],
              'a temporary file was left in %s: %s' % (prof_b, os.listdir(prof_b)))
        log('a stale entry (two, old path) became one current entry, mode 0640 kept')

        # status: text and JSON.
        res = h.kyso(env, 'browser', 'status', expect='ok')
        check(res.stdout.count(': registered') == 4 and module in res.stdout and
              'profile "work"' in res.stdout and 'Thunderbird' in res.stdout and
              'Chromium and Chrome' in res.stdout, 'status:\n' + res.describe())
        doc = h.kyso_json(env, 'browser', 'status')
        check(doc['command'] == 'browser status' and
              all(d['registered'] and d['current'] and d['library'] == module
                  for d in doc['databases']), 'status JSON: %s' % doc)
        check([w['code'] for w in doc['warnings']] == ['sandboxed_browser'],
              'status warnings: %s' % doc['warnings'])
        res = h.kyso(h.vietnamese_env(env), 'browser', 'status', expect='ok')
        check('đã đăng ký' in res.stdout and 'snap' in res.stderr,
              'status in Vietnamese:\n' + res.describe())

        # A running Firefox (its profile lock names a live process).
        os.symlink('127.0.0.1:+%d' % os.getpid(), os.path.join(prof_a, 'lock'))
        doc = h.kyso_json(env, 'browser', 'unregister')
        codes = [w['code'] for w in doc['warnings']]
        check('browser_running' in codes, 'no warning about the running '
              'Firefox: %s' % doc['warnings'])
        check(any(prof_a in w['message'] for w in doc['warnings']
                  if w['code'] == 'browser_running'), doc['warnings'])
        os.unlink(os.path.join(prof_a, 'lock'))

        # unregister: kyso gone, NSS still opens every database.
        check(all(d['action'] == 'removed' and not d['registered']
                  for d in doc['databases']), 'unregister: %s' % doc)
        for d in (prof_a, prof_b, prof_t, nssdb):
            check_unregistered(env, d)
        res = h.kyso(env, 'browser', 'unregister', expect='ok')
        check(res.stdout.count('not registered') == 4, res.describe())
        log('unregister: kyso gone from the 4 databases; NSS opens each')

        # An old-format profile (secmod.db, no pkcs11.txt): left alone.
        prof_old = os.path.join(ff, 'old.default')
        os.makedirs(prof_old)
        h.write(os.path.join(prof_old, 'secmod.db'), b'\0' * 16)
        write_profiles_ini(ff, [('default-esr', 'a1b2c3d4.default-esr', True),
                                ('work', prof_b, False), ('old', 'old.default', True)])
        doc = h.kyso_json(env, 'browser', 'register')
        check('legacy_database' in [w['code'] for w in doc['warnings']] and
              not os.path.exists(os.path.join(prof_old, 'pkcs11.txt')),
              'old-format profile: %s' % doc)
        h.kyso(env, 'browser', 'unregister', expect='ok')

        # Refusals: nothing changes.
        res = h.kyso(env, 'browser', 'register', '--module',
                     os.path.join(work, 'no-such-module.so'), expect='file')
        check('cannot be found' in res.stderr, res.describe())
        if os.geteuid() == 0:
            # A copy of a profile whose database belongs to nobody.
            prof_n = os.path.join(ff, 'n0b0dy.shared')
            shutil.copytree(prof_a, prof_n)
            os.chown(os.path.join(prof_n, 'pkcs11.txt'), NOBODY, NOBODY)
            write_profiles_ini(ff, [('default-esr', 'a1b2c3d4.default-esr', True),
                                    ('work', prof_b, False),
                                    ('shared', 'n0b0dy.shared', True)])
            before = {d: h.read(os.path.join(d, 'pkcs11.txt'))
                      for d in (prof_a, prof_b, prof_t, nssdb, prof_n)}
            doc = h.kyso_json(env, 'browser', 'register', expect='file')
            check(doc['error']['code'] == 'not_owner' and
                  os.path.join(prof_n, 'pkcs11.txt') in doc['error']['message'],
                  'a database of another user: %s' % doc)
            res = h.kyso(env, 'browser', 'register', expect='file')
            check('belongs to another user (uid %d)' % NOBODY in res.stderr,
                  res.describe())
            for d, data in before.items():
                check(h.read(os.path.join(d, 'pkcs11.txt')) == data,
                      'a refused register changed %s/pkcs11.txt' % d)
            check(os.stat(os.path.join(prof_n, 'pkcs11.txt')).st_uid == NOBODY,
                  'the owner of the refused file changed')
            shutil.rmtree(prof_n)
            write_profiles_ini(ff, [('default-esr', 'a1b2c3d4.default-esr', True),
                                    ('work', prof_b, False)])
            # root with another user's HOME.
            os.chown(home, NOBODY, NOBODY)
            doc = h.kyso_json(env, 'browser', 'register', expect='file')
            check(doc['error']['code'] == 'not_owner' and
                  'home folder' in doc['error']['message'], doc)
            check(kyso_stanzas(prof_a) == [], 'register with a HOME of another '
                  'user wrote to it')
            os.chown(home, 0, 0)
            log('refused: a database file of uid %d, a HOME of uid %d; '
                'nothing changed' % (NOBODY, NOBODY))
        else:
            log('not root: the other-owner refusals are not checked')

        # --help and the JSON document of register.
        res = h.kyso(env, 'browser', 'register', '--help', expect='ok')
        check('Usage: kyso browser register' in res.stdout and '--module' in res.stdout,
              res.describe())
        doc = h.kyso_json(env, 'browser', 'register', '--module', module)
        check(doc['module'] == module and json.dumps(doc), doc)
        h.kyso(env, 'browser', 'unregister', expect='ok')


if __name__ == '__main__':
    rig.main(test)
