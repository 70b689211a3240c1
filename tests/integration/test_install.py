"""`meson install` puts the module in $libdir/pkcs11/ and kyso.module in
$datadir/p11-kit/modules/; with that module file where p11-kit looks,
`p11-kit list-modules` shows kyso and loads it."""

import os
import shutil
import tempfile

import rig


def test():
    if shutil.which('p11-kit') is None:
        rig.skip('p11-kit is not installed')
    work = tempfile.mkdtemp(prefix='kyso-install-')
    try:
        dest = os.path.join(work, 'dest')
        env = dict(os.environ, DESTDIR=dest)
        res = rig.run(['meson', 'install', '-C', rig.BUILD_DIR, '--no-rebuild',
                       '--quiet'], env=env, timeout=120)
        rig.check(res.returncode == 0, res.describe())
        found = {}
        for root, _, files in os.walk(dest):
            for f in files:
                found[f] = os.path.join(root, f)
        so = found.get('kyso-pkcs11.so')
        conf = found.get('kyso.module')
        rig.check(so is not None and os.path.basename(os.path.dirname(so)) == 'pkcs11',
                  'kyso-pkcs11.so not installed into $libdir/pkcs11: %s' % sorted(found))
        rig.check(conf is not None and conf.endswith('/p11-kit/modules/kyso.module'),
                  'kyso.module not installed into $datadir/p11-kit/modules: %s'
                  % sorted(found))
        with open(conf) as f:
            text = f.read()
        rig.check('module:' in text and 'kyso-pkcs11.so' in text,
                  'kyso.module does not name the module:\n' + text)

        # p11-kit also reads ~/.config/pkcs11/modules, except as root: put
        # the installed file there, pointing at the staged module, and ask
        # p11-kit as an unprivileged user.
        for root, dirs, files in os.walk(work):
            for name in dirs + files:
                os.chmod(os.path.join(root, name),
                         0o755 if name in dirs else 0o644)
        os.chmod(work, 0o755)
        home = os.path.join(work, 'home')
        user_modules = os.path.join(home, '.config', 'pkcs11', 'modules')
        os.makedirs(user_modules)
        with open(os.path.join(user_modules, 'kyso.module'), 'w') as f:
            f.write('module: %s\n' % so)
        # Only kyso: the machine's other modules are not under test (and
        # p11-kit-trust deadlocks in its constructor under an ASan preload).
        system_modules = '/usr/share/p11-kit/modules'
        for name in os.listdir(system_modules) if os.path.isdir(system_modules) else []:
            if name.endswith('.module'):
                with open(os.path.join(user_modules, name), 'w') as f:
                    f.write('disable-in: p11-kit\n')
                os.chmod(os.path.join(user_modules, name), 0o644)
        for d in (home, os.path.join(home, '.config'), os.path.dirname(user_modules),
                  user_modules):
            os.chmod(d, 0o755)
        os.chmod(os.path.join(user_modules, 'kyso.module'), 0o644)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, '.config'),
                   PCSCLITE_CSOCK_NAME=os.path.join(work, 'no-pcscd'))
        if os.environ.get('KYSO_PRELOAD'):
            # libp11-kit deadlocks on its own locale lock at exit under an
            # ASan preload; ./test.sh runs this test on the plain build.
            rig.log('sanitizer build: files checked; p11-kit run left to the plain build')
            return
        cmd = ['p11-kit', 'list-modules']
        if os.geteuid() == 0:
            cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] + cmd
        res = rig.run(cmd, env=env, timeout=60)
        rig.check(res.returncode == 0, res.describe())
        rig.check('kyso' in res.stdout and 'kyso PKCS#11 smart card module' in res.stdout,
                  'p11-kit list-modules does not show kyso:\n' + res.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    rig.main(test)
