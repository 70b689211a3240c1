#!/usr/bin/python3
"""Issue 5: kyso speaks Vietnamese.

- LANG=vi_VN.UTF-8 kyso pin change, at a real terminal (a pty): the
  prompts, the tries left and the result in Vietnamese. Debian ships no
  vi_VN locale until one is generated; kyso must speak Vietnamese anyway.
- LANGUAGE=vi with the C.UTF-8 locale: the same catalog.
- The error cases, each with its exit code and a Vietnamese message: a
  wrong PIN, a blocked PIN, a missing token, a file that is not a
  certificate, a certificate for another key. (The token pulled out
  mid-command is in test_removal.py.)
- The catalog is complete: every message kyso's sources mark for
  translation has a Vietnamese translation (xgettext over the files of
  tools/po/POTFILES against tools/po/vi.po)."""

import os
import re
import shutil
import subprocess

import tool_helpers as h
from tool_helpers import check, log, rig

NEW_PIN = '13572468'


def vi_message(res, text, what):
    check(text in res.stderr, '%s: the Vietnamese message %r is not in:\n%s'
          % (what, text, res.describe()))


def po_msgids(text):
    """The msgids of a .po/.pot text (with their continuation lines)."""
    ids = []
    cur = None
    for line in text.splitlines():
        if line.startswith('msgid '):
            cur = [line[6:]]
        elif cur is not None and line.startswith('"'):
            cur.append(line)
        elif cur is not None:
            ids.append(''.join(eval(s) for s in cur))
            cur = None
    return [i for i in ids if i]


def check_catalog(work):
    po_dir = os.path.join(rig.SOURCE_DIR, 'tools', 'po')
    with open(os.path.join(po_dir, 'vi.po'), encoding='utf-8') as f:
        po = f.read()
    check('#, fuzzy' not in po.split('msgid ""', 1)[1].split('\n\n', 1)[1],
          'tools/po/vi.po has fuzzy translations')
    check(not re.search(r'\nmsgstr ""\n\n', po.split('\n\n', 1)[1] + '\n'),
          'tools/po/vi.po has untranslated messages')
    if shutil.which('msgfmt'):
        res = subprocess.run(['msgfmt', '-c', '--statistics', '-o', os.devnull,
                              os.path.join(po_dir, 'vi.po')], capture_output=True, text=True)
        check(res.returncode == 0 and 'untranslated' not in res.stderr and
              'fuzzy' not in res.stderr, 'msgfmt -c vi.po: %s' % res.stderr)
    if not shutil.which('xgettext'):
        log('xgettext is not installed: catalog completeness against the sources not checked')
        return
    with open(os.path.join(po_dir, 'POTFILES')) as f:
        sources = [l.strip() for l in f if l.strip() and not l.startswith('#')]
    pot = os.path.join(work, 'kyso.pot')
    res = subprocess.run(['xgettext', '--keyword=_', '--keyword=N_', '--keyword=DRV_N_',
                          '--keyword=P_:1,2', '--from-code=UTF-8', '-o', pot] + sources,
                         cwd=rig.SOURCE_DIR, capture_output=True, text=True)
    check(res.returncode == 0, 'xgettext failed: %s' % res.stderr)
    with open(pot, encoding='utf-8') as f:
        wanted = set(po_msgids(f.read()))
    have = set(po_msgids(po))
    missing = sorted(wanted - have)
    check(not missing, 'messages without a Vietnamese translation in tools/po/vi.po '
          '(run ninja kyso-update-po and translate): %s' % missing)
    check(len(wanted) > 250, 'only %d messages found in the sources' % len(wanted))
    log('catalog: all %d messages translated' % len(wanted))


def test():
    h.require_tool()
    work = h.workdir('vi')
    check_catalog(work)
    with rig.Rig(readers=1) as r:
        vi = h.vietnamese_env(r.env, 'LANG')
        vi2 = h.vietnamese_env(r.env, 'LANGUAGE')

        res = h.kyso(vi, 'pin', 'status', expect='no_token', what='missing token')
        vi_message(res, 'Không tìm thấy token', 'missing token')
        res = h.kyso(vi2, 'list', '--token', 'nothing', expect='no_token')
        vi_message(res, 'Không có token nào khớp', 'no match')

        card, state, ca = h.start_demo_card(r, work)
        res = h.kyso(vi, '--help', expect='ok')
        check('Cách dùng: kyso' in res.stdout and 'Mã thoát' in res.stdout, res.describe())

        # pin change at a terminal, LANG=vi_VN.UTF-8.
        t = h.Pty(vi, 'pin', 'change')
        t.expect('PIN: còn 3 lần thử (trên 3).')
        t.expect('Mã PIN của YubiKey PIV #')
        t.send(h.PIN + '\n')
        t.expect('Mã PIN mới: ')
        t.send(NEW_PIN + '\n')
        t.expect('Nhập lại mã PIN mới: ')
        t.send(NEW_PIN + '\n')
        t.expect('Đã đổi mã PIN.')
        check(t.finish() == 0, 'pin change in Vietnamese:\n' + t.text())
        check(h.PIN not in t.text() and NEW_PIN not in t.text(), 'echo:\n' + t.text())
        log('pin change in Vietnamese on a pty: ok')

        # The same with LANGUAGE=vi, C.UTF-8.
        t = h.Pty(vi2, 'pin', 'change')
        t.expect('Mã PIN của ')
        t.send(NEW_PIN + '\n')
        t.expect('Mã PIN mới: ')
        t.send('ABCDEF99\n')
        t.expect('Caps Lock')
        t.expect('[c/K]')
        t.send('k\n')
        t.expect('Đã hủy')
        check(t.finish() == h.EXIT['canceled'], t.text())

        env = h.english_env(r.env)
        before = h.snapshot(env)
        doc = h.write(os.path.join(work, 'doc.txt'), 'văn bản\n')

        # Wrong PIN: exit 3, the counter down by one.
        res = h.kyso(vi, 'sign', doc, '--pin-source', 'stdin', input='000000\n',
                     expect='wrong_pin', what='wrong PIN')
        vi_message(res, 'Sai mã PIN. Còn 2 lần thử trước khi bị khóa.', 'wrong PIN')
        check(h.pin_tries(env) == (2, 3), 'wrong PIN: counters %s' % (h.pin_tries(env),))
        # A PIN typed with the Vietnamese input method on: not sent.
        res = h.kyso(vi, 'sign', doc, '--pin-source', 'stdin', input='13572468đ\n',
                     expect='pin_policy', what='Telex PIN')
        vi_message(res, 'bộ gõ tiếng Việt', 'Telex PIN')
        vi_message(res, 'không tốn lần thử nào', 'Telex PIN')
        # Last try refused.
        h.kyso(vi, 'sign', doc, '--pin-source', 'stdin', input='000000\n',
               expect='wrong_pin')
        res = h.kyso(vi, 'sign', doc, '--pin-source', 'stdin', input='000000\n',
                     expect='blocked', what='last try')
        vi_message(res, 'lần thử PIN cuối cùng', 'last try')
        vi_message(res, '--yes-last-try', 'last try')
        # Blocked.
        res = h.kyso(vi, 'sign', doc, '--pin-source', 'stdin', '--yes-last-try',
                     input='000000\n', expect='blocked', what='blocking')
        vi_message(res, 'mã PIN giờ đã bị khóa', 'blocking')
        res = h.kyso(vi2, 'pin', 'change', '--pin-source', 'stdin', input=NEW_PIN + '\n',
                     expect='blocked', what='blocked PIN')
        vi_message(res, 'đã bị khóa', 'blocked PIN')
        vi_message(res, 'kyso pin unblock', 'blocked PIN')
        check(h.pin_tries(env) == (0, 3), 'counters %s' % (h.pin_tries(env),))

        # Not a certificate; a certificate for another key.
        res = h.kyso(vi, 'cert', 'import', doc, '--slot', '9a', expect='file')
        vi_message(res, 'không phải là chứng thư số', 'not a certificate')
        other = os.path.join(work, '9c.pem')
        h.kyso(env, 'cert', 'export', '--slot', '9c', '--out', other, expect='ok')
        res = h.kyso(vi, 'cert', 'import', other, '--slot', '9a', expect='mismatch')
        vi_message(res, 'dành cho một khóa khác', 'mismatch')
        vi_message(res, 'Không có gì được ghi', 'mismatch')
        after = h.snapshot(env)
        check(after['keys'] == before['keys'], 'the card changed:\n%s\n%s' % (before, after))

        # JSON: stable codes, the message in the user's language.
        doc_json = h.kyso_json(vi, 'cert', 'import', other, '--slot', '9a', expect='mismatch')
        check(doc_json['error']['code'] == 'key_mismatch' and
              'khóa khác' in doc_json['error']['message'], doc_json)

        # Unblock in Vietnamese.
        res = h.kyso(vi, 'pin', 'unblock', '--puk-source', 'stdin', '--new-pin-source', 'stdin',
                     input='%s\n%s\n' % (h.PUK, NEW_PIN), expect='ok')
        check('Đã mở khóa mã PIN' in res.stdout, res.describe())


if __name__ == '__main__':
    rig.main(test)
