# SPDX-License-Identifier: BSD-2-Clause
"""milterproto - a small milter protocol (version 6) client, as an MTA.

It speaks to a milter the way Postfix's milter8 client does
(/usr/include/libmilter/mfdef.h; Postfix src/milter/milter8.c):

  - SMFIC_OPTNEG offering protocol 6, every action, and the steps asked
    for; the filter's answer decides which later commands get a reply
    (the NR_* bits) and whether header values keep their leading space.
  - SMFIC_MACRO before the commands that carry macros.
  - Header values as Postfix sends them: the name with the white space
    before the colon removed, the folded lines joined by a bare "\\n"
    (Postfix keeps a header in one buffer with newlines), and without
    HDR_LEADSPC the one space after the colon removed.

call() returns the final reply of a command with the modifications that
came before it (SMFIR_ADDHEADER, INSHEADER, CHGHEADER, QUARANTINE, ...).
A Reply says whether it refuses (reject, tempfail, a 4xx/5xx
SMFIR_REPLYCODE, discard, connection failure) or lets the step go on.
"""

import socket
import struct

# Commands (mfdef.h).
SMFIC_ABORT = b'A'
SMFIC_BODY = b'B'
SMFIC_CONNECT = b'C'
SMFIC_MACRO = b'D'
SMFIC_BODYEOB = b'E'
SMFIC_HELO = b'H'
SMFIC_HEADER = b'L'
SMFIC_MAIL = b'M'
SMFIC_EOH = b'N'
SMFIC_OPTNEG = b'O'
SMFIC_QUIT = b'Q'
SMFIC_RCPT = b'R'
SMFIC_DATA = b'T'

# Replies.
SMFIR_ACCEPT = b'a'
SMFIR_CONTINUE = b'c'
SMFIR_DISCARD = b'd'
SMFIR_CONN_FAIL = b'f'
SMFIR_REJECT = b'r'
SMFIR_SKIP = b's'
SMFIR_TEMPFAIL = b't'
SMFIR_REPLYCODE = b'y'
SMFIR_SHUTDOWN = b'4'
# Modifications (come before the final reply to end of message).
SMFIR_ADDHEADER = b'h'
SMFIR_INSHEADER = b'i'
SMFIR_CHGHEADER = b'm'
SMFIR_QUARANTINE = b'q'
SMFIR_PROGRESS = b'p'
MODIFICATIONS = (b'h', b'i', b'm', b'q', b'+', b'-', b'2', b'b', b'e',
                 b'l')

SMFI_CURR_ACTS = 0x1ff
SMFIP_NR_HDR = 0x80
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_SKIP = 0x400
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000

# What Postfix 3.x offers (milter8.c: every step it can do without).
OFFER_POSTFIX = (SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA |
                 SMFIP_SKIP | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                 SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_EOH |
                 SMFIP_NR_BODY | SMFIP_HDR_LEADSPC)
# An older MTA: replies to everything, no leading space.
OFFER_PLAIN = SMFIP_SKIP
OFFERS = {'postfix': OFFER_POSTFIX, 'plain': OFFER_PLAIN,
          'leadspc': SMFIP_SKIP | SMFIP_HDR_LEADSPC}

MAX_DATA = 65535  # libmilter's default command data limit


class ProtocolError(Exception):
    """The filter broke the protocol or closed the connection."""


class Reply:
    """A final reply: code (one letter), data, and the modifications
    that preceded it as (code, data) pairs."""

    def __init__(self, code, data=b'', mods=()):
        self.code = code
        self.data = data
        self.mods = list(mods)

    @property
    def smtp(self):
        """The SMTP reply text of SMFIR_REPLYCODE, else ''."""
        if self.code == SMFIR_REPLYCODE:
            return self.data.rstrip(b'\0').decode('ascii', 'replace')
        return ''

    @property
    def refuses(self):
        """True if the MTA must refuse the step (or the message)."""
        if self.code == SMFIR_REPLYCODE:
            return self.smtp[:1] in ('4', '5')
        return self.code in (SMFIR_REJECT, SMFIR_TEMPFAIL, SMFIR_DISCARD,
                             SMFIR_CONN_FAIL, SMFIR_SHUTDOWN)

    def kind(self):
        """accept, continue, skip, reject, tempfail, discard, ..."""
        if self.code == SMFIR_REPLYCODE:
            return {'4': 'tempfail', '5': 'reject'}.get(self.smtp[:1],
                                                        'odd-replycode')
        return {b'a': 'accept', b'c': 'continue', b's': 'skip',
                b'r': 'reject', b't': 'tempfail', b'd': 'discard',
                b'f': 'connfail', b'4': 'shutdown',
                None: 'noreply'}.get(self.code, 'unknown')

    def __repr__(self):
        return 'Reply(%s%s)' % (self.kind(),
                                ' ' + self.smtp if self.smtp else '')

    def inserted(self, name):
        """Values of the headers added or inserted with this name."""
        out = []
        for code, data in self.mods:
            if code == SMFIR_INSHEADER:
                data = data[4:]
            elif code != SMFIR_ADDHEADER:
                continue
            parts = data.split(b'\0')
            if len(parts) >= 2 and parts[0].decode(
                    'latin-1').lower() == name.lower():
                out.append(parts[1].decode('latin-1'))
        return out

    def quarantined(self):
        return any(c == SMFIR_QUARANTINE for c, _ in self.mods)


NOREPLY = Reply(None)


class Milter:
    """One MTA-side milter connection (unix socket path or (host, port))."""

    def __init__(self, where, timeout=30):
        if isinstance(where, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(where)
        self.steps = 0      # the protocol steps the filter took
        self.actions = 0

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    # -- framing

    def send(self, cmd, data=b''):
        if len(data) + 1 > MAX_DATA + 1:
            raise ValueError('command data over %d octets' % MAX_DATA)
        self.s.sendall(struct.pack('!I', len(data) + 1) + cmd + data)

    def _read(self, n):
        buf = b''
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except OSError as e:
                raise ProtocolError('read: %s' % e) from e
            if not chunk:
                raise ProtocolError('the filter closed the connection')
            buf += chunk
        return buf

    def recv(self):
        (n,) = struct.unpack('!I', self._read(4))
        if n == 0 or n > 16 * 1024 * 1024:
            raise ProtocolError('bad packet length %d' % n)
        body = self._read(n)
        return body[:1], body[1:]

    def reply(self):
        mods = []
        while True:
            code, data = self.recv()
            if code in MODIFICATIONS:
                mods.append((code, data))
            elif code == SMFIR_PROGRESS:
                continue
            else:
                return Reply(code, data, mods)

    def call(self, cmd, data=b'', noreply_bit=0):
        """Send a command; read its reply unless the filter negotiated
        noreply_bit away (then NOREPLY)."""
        self.send(cmd, data)
        if noreply_bit and self.steps & noreply_bit:
            return NOREPLY
        return self.reply()

    # -- commands

    def negotiate(self, offer=OFFER_POSTFIX):
        self.send(SMFIC_OPTNEG, struct.pack('!III', 6, SMFI_CURR_ACTS,
                                            offer))
        code, data = self.recv()
        if code != SMFIC_OPTNEG or len(data) < 12:
            raise ProtocolError('negotiation reply %r' % code)
        _, self.actions, steps = struct.unpack('!III', data[:12])
        if steps & ~offer:
            raise ProtocolError('filter took steps not offered: %#x'
                                % (steps & ~offer))
        self.steps = steps
        return self.actions, self.steps

    def macro(self, cmd, pairs):
        data = cmd
        for k, v in pairs:
            data += k.encode() + b'\0' + v.encode('utf-8') + b'\0'
        self.send(SMFIC_MACRO, data)

    def connect(self, host, ip, port=25):
        fam = b'6' if ':' in ip else b'4'
        return self.call(SMFIC_CONNECT, host.encode() + b'\0' + fam +
                         struct.pack('!H', port) + ip.encode() + b'\0',
                         SMFIP_NR_CONN)

    def helo(self, name):
        return self.call(SMFIC_HELO, name.encode('utf-8') + b'\0',
                         SMFIP_NR_HELO)

    def mail(self, addr, args=()):
        data = b''.join(a.encode('utf-8') + b'\0'
                        for a in (addr,) + tuple(args))
        return self.call(SMFIC_MAIL, data, SMFIP_NR_MAIL)

    def rcpt(self, addr):
        return self.call(SMFIC_RCPT, addr.encode('utf-8') + b'\0',
                         SMFIP_NR_RCPT)

    def data(self):
        if self.steps & SMFIP_NODATA:
            return NOREPLY
        return self.call(SMFIC_DATA, b'', SMFIP_NR_DATA)

    def header(self, name, value):
        """name and value as they are in the message (value: after the
        colon, folded with CRLF); sent the way Postfix sends them."""
        name = name.rstrip(' \t')
        value = value.replace('\r\n', '\n')
        if not self.steps & SMFIP_HDR_LEADSPC and value.startswith(' '):
            value = value[1:]
        return self.call(SMFIC_HEADER, name.encode('utf-8', 'surrogateescape')
                         + b'\0' +
                         value.encode('utf-8', 'surrogateescape') + b'\0',
                         SMFIP_NR_HDR)

    def eoh(self):
        return self.call(SMFIC_EOH, b'', SMFIP_NR_EOH)

    def body(self, chunk):
        return self.call(SMFIC_BODY, chunk, SMFIP_NR_BODY)

    def eom(self):
        return self.call(SMFIC_BODYEOB, b'')

    def abort(self):
        self.send(SMFIC_ABORT)

    def quit(self):
        try:
            self.send(SMFIC_QUIT)
        except OSError:
            pass
        self.close()
