#!/usr/bin/python3
"""Issue 6, OpenSSH (openssh-client, openssh-server) with kyso's module
and one virtual card, the profile named on the command line
(../clients-nss-openssl/card_profiles.py): `piv` (the demo PIV card) or
`epass2003` (Feitian's vendor layout, two RSA-2048 keys).

1. `ssh-keygen -D MODULE` prints the token's public keys. Proof: they are
   exactly the public keys of the card's certificates (read by
   card_profiles, PIV with OpenSC's module, verified against the demo
   CA), converted with `ssh-keygen -i -m PKCS8`: PIV RSA 2048 (9A, 9D),
   ECDSA P-256 (9C), P-384 (9E); ePass2003 RSA 2048 x2.
2. `ssh -I MODULE -o IdentitiesOnly=yes -i KEY.pub root@127.0.0.1 echo
   kyso-ok` to a private sshd (own config, host key, port and
   AuthorizedKeysFile holding the certificates' keys), the PIN given by
   an SSH_ASKPASS script (SSH_ASKPASS_REQUIRE=force), for the card's
   signing key (PIV: the RSA key of 9A, and the P-384 key of 9E). Proof: the remote command prints kyso-ok
   and sshd logs `Accepted publickey for root from 127.0.0.1 port N ssh2:
   RSA SHA256:...` with the fingerprint of the certificate's key.
3. `ssh-add -s MODULE` into a private `ssh-agent -P <module's resolved
   path>`. Proof: `ssh-add -L` lists the certificates' keys, and an ssh
   login through the agent alone (no -I) with the signing key is accepted by
   sshd with that key's fingerprint.

Not covered: the PIV 9C key (PIN always) with ssh. OpenSSH 9.2 logs in with
CKU_USER and then skips the CKU_CONTEXT_SPECIFIC login for a key with
CKA_ALWAYS_AUTHENTICATE in the same call (`always_auth && !did_login` in
ssh-pkcs11.c), and kyso answers C_Sign with CKR_USER_NOT_LOGGED_IN.

sshd never loads kyso: it runs without the sanitizer preload. ssh-agent
loads kyso in ssh-pkcs11-helper; Debian's ssh-agent is setgid, so the
loader strips LD_PRELOAD from both: in sanitizer builds the agent runs the
helper through SSH_PKCS11_HELPER, a wrapper script that preloads the
runtime.
"""

import os
import shutil

import clients_helpers as c
from clients_helpers import check, h, log, rig

SSHD = '/usr/sbin/sshd'
HELPER = '/usr/lib/openssh/ssh-pkcs11-helper'


def ssh_pub_of_cert(env, work, key_id, cert):
    short = key_id[:8]
    pem = h.write(os.path.join(work, 'cert-pub-%s.pem' % short),
                  c.cert_pubkey_pem(env, cert))
    out = h.run_ok(['ssh-keygen', '-i', '-m', 'PKCS8', '-f', pem], env,
                   'ssh-keygen -i of certificate %s' % key_id).stdout
    fields = out.split()
    check(len(fields) >= 2, 'ssh-keygen -i printed %r' % out)
    path = h.write(os.path.join(work, 'key-%s.pub' % short),
                   '%s %s kyso-%s\n' % (fields[0], fields[1], short))
    os.chmod(path, 0o600)
    fp = h.run_ok(['ssh-keygen', '-l', '-E', 'sha256', '-f', path], env,
                  'fingerprint of key %s' % key_id).stdout.split()
    # "256 SHA256:... comment (ECDSA)"
    return path, '%s %s' % (fields[0], fields[1]), fp[1], fp[-1].strip('()')


def key_set(text):
    keys = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 2 and (f[0].startswith('ssh-') or
                            f[0].startswith('ecdsa-')):
            keys.add('%s %s' % (f[0], f[1]))
    return keys


def start_sshd(env, work, authorized):
    os.makedirs('/run/sshd', mode=0o755, exist_ok=True)   # privsep chroot
    hostkey = os.path.join(work, 'ssh_host_ed25519_key')
    h.run_ok(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostkey],
             c.server_env(env), 'ssh-keygen (host key)')
    auth = h.write(os.path.join(work, 'authorized_keys'),
                   ''.join(k + '\n' for k in authorized))
    port = c.free_port()
    conf = h.write(os.path.join(work, 'sshd_config'),
                   'Port %d\n'
                   'ListenAddress 127.0.0.1\n'
                   'HostKey %s\n'
                   'PidFile %s/sshd.pid\n'
                   'AuthorizedKeysFile %s\n'
                   'UsePAM no\n'
                   'StrictModes no\n'
                   'PermitRootLogin prohibit-password\n'
                   'PubkeyAuthentication yes\n'
                   'PasswordAuthentication no\n'
                   'KbdInteractiveAuthentication no\n'
                   'LogLevel INFO\n' % (port, hostkey, work, auth))
    with open(hostkey + '.pub') as f:
        host_pub = f.read().split()
    known = h.write(os.path.join(work, 'known_hosts'), '[127.0.0.1]:%d %s %s\n'
                    % (port, host_pub[0], host_pub[1]))
    srv = c.Server([SSHD, '-D', '-e', '-f', conf], c.server_env(env),
                   os.path.join(work, 'sshd.log'), port, 'sshd')
    return srv, port, known


def ssh_cmd(port, known, extra):
    return (['ssh', '-F', '/dev/null', '-p', str(port),
             '-o', 'UserKnownHostsFile=' + known,
             '-o', 'GlobalKnownHostsFile=/dev/null',
             '-o', 'StrictHostKeyChecking=yes',
             '-o', 'PasswordAuthentication=no',
             '-o', 'KbdInteractiveAuthentication=no',
             '-o', 'BatchMode=no', '-o', 'ConnectTimeout=20']
            + extra + ['root@127.0.0.1', 'echo', 'kyso-ok'])


def agent_env(env, work):
    """The environment of ssh-agent. Debian's ssh-agent is setgid _ssh:
    the loader drops LD_PRELOAD for it and for ssh-pkcs11-helper, which it
    runs and which loads kyso. In sanitizer builds the helper is started
    through SSH_PKCS11_HELPER, a script that puts the runtime back."""
    e = c.server_env(env)
    pre = os.environ.get('KYSO_PRELOAD')
    if pre:
        check(os.path.exists(HELPER), '%s is missing' % HELPER)
        wrapper = h.write(os.path.join(work, 'pkcs11-helper.sh'),
                          '#!/bin/sh\nLD_PRELOAD="%s" exec %s "$@"\n'
                          % (pre, HELPER))
        os.chmod(wrapper, 0o755)
        e['SSH_PKCS11_HELPER'] = wrapper
    return e


def check_login(srv, res, what, ktype, fp):
    check(res.returncode == 0 and res.stdout.strip() == 'kyso-ok',
          '%s: the remote command did not print kyso-ok:\n%s\n--- sshd log\n%s'
          % (what, res.describe(), srv.text()))
    line = 'Accepted publickey for root from 127.0.0.1'
    want = 'ssh2: %s %s' % (ktype, fp)
    text = srv.wait_for(want)
    accepted = [l for l in text.splitlines() if line in l and want in l]
    check(accepted, '%s: sshd logged no "%s ... %s":\n%s'
          % (what, line, want, text))
    log('%s: kyso-ok; sshd "%s"' % (what, accepted[-1].strip()))


def test():
    for prog in ('ssh', 'ssh-keygen', 'ssh-agent', 'ssh-add', SSHD):
        if shutil.which(prog) is None:
            rig.skip('%s is not installed (openssh-client, openssh-server)'
                     % prog)
    rig.require_module()
    work = h.workdir('openssh-%s' % c.cp.profile_name())
    os.chmod(work, 0o700)
    module = os.path.realpath(h.MODULE)
    with rig.Rig(readers=2) as r:
        card, certs, ids = c.card_certs(r, work)
        keys = {}
        for key_id in ids:
            keys[key_id] = ssh_pub_of_cert(r.env, work, key_id, certs[key_id])
        want = set(k[1] for k in keys.values())

        # 1. ssh-keygen -D
        res = h.run_ok(['ssh-keygen', '-D', module], r.env,
                       'ssh-keygen -D MODULE')
        got = key_set(res.stdout)
        check(got == want, 'ssh-keygen -D: the token\'s keys are not the '
              'certificates\' keys:\ngot %s\nwant %s\n%s'
              % (sorted(got), sorted(want), res.describe()))
        log('ssh-keygen -D: the %d keys of the card\'s certificates (%s)'
            % (len(want), ', '.join(sorted(k[3] for k in keys.values()))))

        askpass = h.write(os.path.join(work, 'askpass.sh'),
                          '#!/bin/sh\necho %s\n' % card.pin)
        os.chmod(askpass, 0o700)
        env = dict(r.env, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE='force')
        env.pop('DISPLAY', None)
        env.pop('SSH_AUTH_SOCK', None)

        srv, port, known = start_sshd(r.env, work, sorted(want))
        with srv:
            # 2. ssh -I MODULE
            # PIV: 9A (RSA) and 9E (EC P-384); ePass2003: the signing key.
            for key_id in [card.key_id] + (['04'] if card.name == 'piv'
                                           else []):
                path, _, fp, ktype = keys[key_id]
                what = 'ssh -I MODULE with key %s' % key_id
                res = rig.run(ssh_cmd(port, known,
                                      ['-I', module, '-o', 'IdentitiesOnly=yes',
                                       '-i', path]), env=env, timeout=60)
                check_login(srv, res, what, ktype, fp)

            # 3. ssh-agent + ssh-add -s
            sock = os.path.join(work, 'agent.sock')
            agent = c.Server(['ssh-agent', '-D', '-a', sock, '-P', module],
                             agent_env(r.env, work),
                             os.path.join(work, 'ssh-agent.log'),
                             None, 'ssh-agent', socket_path=sock)
            with agent:
                aenv = dict(env, SSH_AUTH_SOCK=sock)
                res = rig.run(['ssh-add', '-s', module], env=aenv, timeout=60)
                check(res.returncode == 0, 'ssh-add -s MODULE failed:\n%s\n'
                      '--- ssh-agent log\n%s' % (res.describe(), agent.text()))
                res = h.run_ok(['ssh-add', '-L'], aenv, 'ssh-add -L')
                got = key_set(res.stdout)
                check(got == want, 'ssh-add -L: the agent holds other keys '
                      'than the certificates\':\ngot %s\nwant %s'
                      % (sorted(got), sorted(want)))
                log('ssh-add -s MODULE; ssh-add -L: the %d keys of the '
                    'card\'s certificates' % len(want))
                path, _, fp, ktype = keys[card.key_id]
                what = 'ssh through ssh-agent with key %s' % card.key_id
                res = rig.run(ssh_cmd(port, known,
                                      ['-o', 'IdentitiesOnly=yes', '-i', path]),
                              env=aenv, timeout=60)
                check_login(srv, res, what, ktype, fp)


rig.main(test)
