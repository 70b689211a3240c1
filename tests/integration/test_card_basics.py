#!/usr/bin/python3
"""The rig and kyso-vcard on their own, without kyso's module: pcscd sees
the card and its ATR, OpenSC's tools talk to it, the ISO 7816-4 transport
behaviour (strict APDU cases, chaining, GET RESPONSE) is right, the APDU
counter counts, --drop-after pulls the card, and a card survives a pcscd
restart."""

import re

import rig

SELECT_PIV = '00A4040009A00000030800001000'     # SP 800-73-4 pt 2, 3.1.1


def sws(responses):
    return [r[-2:].hex().upper() for r in responses]


def expect(r, reader, apdus, want, what):
    card = r.cards[[c.index for c in r.cards].index(reader)]
    before = card.apdu_count()
    got = sws(r.transmit(reader, apdus))
    used = card.apdu_count() - before
    rig.check(got == want, '%s: sent %s, expected status words %s, got %s'
              % (what, apdus, want, got))
    rig.check(used == len(apdus), '%s: sent %d APDUs, the card counted %d'
              % (what, len(apdus), used))
    rig.log('%s: %s' % (what, ' '.join(got)))


def opensc_sws(output):
    return ['%s%s' % (m.group(1), m.group(2)) for m in re.finditer(
        r'Received \(SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})\)',
        output, re.I)]


def test():
    with rig.Rig(readers=2) as r:
        card = r.start_card(1, 'unknown')

        # pcscd and OpenSC see the card, with its ATR, in reader 1 only.
        atr = r.atr(1).hex().upper()
        rig.check(atr.startswith('3B') and len(atr) >= 4,
                  'odd ATR from the unknown card: %s' % atr)
        res = rig.run(['opensc-tool', '-l'], env=r.env, check_rc=True)
        rows = {m.group(2).strip(): m.group(1) for m in re.finditer(
            r'^\d+\s+(Yes|No)\s+(.*)$', res.stdout, re.M)}
        rig.check(rows.get(r.reader_name(1)) == 'Yes' and
                  rows.get(r.reader_name(0)) == 'No',
                  'opensc-tool -l does not show the card in reader 1 only:\n'
                  + res.stdout)
        res = rig.run(['opensc-tool', '-r', '1', '-a'], env=r.env,
                      check_rc=True)
        shown = res.stdout.replace(':', '').replace(' ', '').strip().upper()
        rig.check(shown == atr, 'opensc-tool -a shows ATR %s, pcscd %s'
                  % (shown, atr))
        rig.log('ATR %s in %s' % (atr, r.reader_name(1)))

        # Raw APDUs through OpenSC's opensc-tool: SELECT is 6A82, anything
        # else 6D00; a chained piece is 9000 and a different command while
        # the chain is open ends it with 6883.
        before = card.apdu_count()
        apdus = ['00A4040000', '00CA0000', '10A4040002A000', '00A4040001A0',
                 '10A4040002A000', '00CA0000']
        cmd = ['opensc-tool', '-r', '1']
        for a in apdus:
            cmd += ['-s', a]
        res = rig.run(cmd, env=r.env, check_rc=True)
        got = opensc_sws(res.stdout)
        want = ['6A82', '6D00', '9000', '6A82', '9000', '6883']
        rig.check(got == want, 'opensc-tool -s: expected %s, got %s\n%s'
                  % (want, got, res.describe()))
        used = card.apdu_count() - before
        rig.log('opensc-tool -s: %s (%d APDUs counted, OpenSC probing '
                'included)' % (' '.join(got), used))
        rig.check(used >= len(apdus), 'the card counted %d APDUs for %d sent'
                  % (used, len(apdus)))

        # Straight PC/SC, nothing in between: the strict parser and the
        # GET RESPONSE rules.
        expect(r, 1, ['00A4040C00', '00A4040C', '0010'], ['6A82', '6A82', '6700'],
               'cases 2S, 1, a 2-byte APDU')
        expect(r, 1, ['00A4040C0300', '00A4040C01AAAA00'], ['6700', '6700'],
               'Lc longer and shorter than the data')
        expect(r, 1, ['00A4040C000002AAAA'], ['6700'],
               'extended APDU to a card without extended length')
        expect(r, 1, ['00C0000000'], ['6985'],
               'GET RESPONSE with nothing pending')
        expect(r, 1, ['FFA4040C'], ['6E00'], 'CLA FF')
        expect(r, 1, ['10CA000001AA', '10CA000001BB', '00CA000001CC'],
               ['9000', '9000', '6D00'], 'a three-piece chain')
        expect(r, 1, ['10CA000001AA', '10CB000001BB', '00CA000001CC'],
               ['9000', '6883', '6D00'], 'a chain broken by another INS')

        # OpenSC does not know this card either: its token is "not
        # recognized", after OpenSC's full probe (282 APDUs in 0.23).
        before = card.apdu_count()
        res = rig.pkcs11_tool(rig.OPENSC_MODULE, '-L', env=r.env)
        used = card.apdu_count() - before
        slots = {s['description']: s for s in rig.parse_slots(res.stdout)}
        slot = slots.get(r.reader_name(1))
        rig.check(res.returncode == 0 and slot is not None and
                  slot['token'] is None and not slot['empty'],
                  'OpenSC should see a card it does not recognise:\n'
                  + res.describe())
        rig.log('OpenSC pkcs11-tool -L: token not recognized after %d APDUs, '
                '%.3f s' % (used, res.elapsed))

        # --drop-after: the card leaves after serving N APDUs.
        drop = r.start_card(0, 'unknown', extra_args=['--drop-after', '2'])
        rig.check(sws(r.transmit(0, ['00A4040000', '00CA0000'])) ==
                  ['6A82', '6D00'], 'the --drop-after card did not answer')
        status, count = drop.wait_exit(timeout=5)
        rig.check(status == 0 and count == 2, '--drop-after 2: exit %s, count '
                  '%s (expected 0 and 2)' % (status, count))
        r.wait_card(0, present=False)
        rig.log('--drop-after 2: card gone after 2 APDUs')

        # pcscd goes away and comes back: the card reconnects by itself and
        # keeps its count.
        before = card.apdu_count()
        r.restart_pcscd()
        r.wait_card(1, present=True, timeout=5)
        expect(r, 1, ['00A4040000'], ['6A82'], 'after a pcscd restart')
        rig.check(card.apdu_count() == before + 1, 'the card lost its count '
                  'over the pcscd restart')

        # SIGTERM: the card prints its final count and exits 0.
        final = card.stop()
        rig.check(card.proc.returncode == 0 and final == before + 1,
                  'SIGTERM: exit %s, final count %s (expected 0 and %d)'
                  % (card.proc.returncode, final, before + 1))
        rig.log('SIGTERM: exit 0, apdus=%d' % final)

        # The transport rules with response data need a card that has
        # some: the virtual PIV card's SELECT answer (its APT).
        piv = r.start_card(0, 'piv')
        # Le absent: a YubiKey (and most T=1 cards) answers as if Le were
        # 256, which yubico-piv-tool relies on.
        rsp = r.transmit(0, [SELECT_PIV])[0]
        rig.check(len(rsp) > 2 and rsp[-2:] == b'\x90\x00',
                  'SELECT PIV without Le should answer the whole template and '
                  '9000, got %s' % rsp.hex())
        data = rsp[:-2]
        n = len(data)
        rsp = r.transmit(0, [SELECT_PIV + '00'])[0]
        rig.check(rsp == data + b'\x90\x00', 'SELECT PIV with Le=00 should '
                  'give the same %d bytes and 9000, got %s' % (n, rsp.hex()))
        if n > 1:
            rsp = r.transmit(0, [SELECT_PIV + '01', '00C0000000'])
            rig.check(rsp[0] == data[:1] + bytes([0x61, n - 1]) and
                      rsp[1] == data[1:] + b'\x90\x00',
                      'SELECT with Le=01 then GET RESPONSE: %s'
                      % [x.hex() for x in rsp])
            rsp = r.transmit(0, [SELECT_PIV + '01', '00CA3FFF00'])
            rig.check(rsp[0][-2:] == bytes([0x61, n - 1]),
                      'SELECT with Le=01: %s' % rsp[0].hex())
            rsp = r.transmit(0, ['00C0000000'])
            rig.check(rsp[0] == b'\x69\x85', 'GET RESPONSE after another '
                      'command should find nothing pending, got %s'
                      % rsp[0].hex())
        rig.log('PIV SELECT: no Le, Le=00 and Le=01 with GET RESPONSE agree '
                '(%d bytes)' % n)
        piv.stop()


rig.main(test)
