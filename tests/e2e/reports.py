# SPDX-License-Identifier: BSD-2-Clause
"""reports - unpack and check DMARC aggregate report messages (RFC 9990).

parse_message(raw) takes one report message (bytes, as authmilter-report
wrote it or as smtp-sink received it) and checks what RFC 9990 s. 3.5.2
asks of it, raising ReportError at the first thing wrong:

  - an RFC 5322 message with MIME-Version 1.0 (RFC 2045), From, To, Date,
    Message-ID and Subject;
  - the Subject matches the dmarc-subject ABNF, Report-ID included:
    `Report Domain: D Submitter: S Report-ID: <ID>` (FWS may fold it);
  - exactly one part of type application/gzip, whose filename matches
    `receiver!policy-domain!begin!end[!unique-id].xml.gz`;
  - the part gunzips (RFC 1952) to XML that `xmllint --schema` accepts
    against RFC 9990's schema (tests/data/dmarc/rfc9990-aggregate.xsd);
  - the Subject, the filename and the XML agree: policy domain,
    submitter = receiver, Report-ID = report_id, begin and end.

It returns a Report: the message, the filename parts, the metadata and
policy_published as dicts, and the records as Record tuples (the RFC 9990
<record> content, normalised so that a test can compare it with what it
sent). Report.totals() sums the counts of records whose content is the
same (rows of two MTAs of a fleet may be separate records).

build_message() makes a report message by hand (for the self-test of
this module, tests/e2e/test_reports_harness.py). new_reports() collects
the report messages smtp-sink received, strip_sink_lines() removes
smtp-sink's own lines, sink_envelope() reads them, dnsd_txt() is a DNS
lookup through dnsd for dkimpy.
"""

import collections
import email
import email.policy
import gzip
import io
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
XSD = os.path.join(ROOT, "tests", "data", "dmarc", "rfc9990-aggregate.xsd")
SAMPLE = os.path.join(ROOT, "tests", "data", "dmarc", "rfc9990-sample.xml")
NS = "urn:ietf:params:xml:ns:dmarc-2.0"

# RFC 6376 domain-name: sub-domain 1*("." sub-domain), sub-domain from
# RFC 5321 (Let-dig [Ldh-str]).
_SUB = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
DOMAIN_NAME = r"%s(?:\.%s)+" % (_SUB, _SUB)
# RFC 5322 atext and dot-atom-text; RFC 9990 s. 3.5.1 ridfmt/ridtxt.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM_TEXT = r"%s+(?:\.%s+)*" % (_ATEXT, _ATEXT)
RIDFMT = r"%s(?:@%s)?" % (DOT_ATOM_TEXT, DOT_ATOM_TEXT)
RIDTXT = r"(?:<(?P<rid1>%s)>|(?P<rid2>%s))" % (RIDFMT, RIDFMT)
# dmarc-subject, unfolded (FWS is then 1* WSP), Report-ID required here
# (SPEC: the Subject carries it).
SUBJECT_RE = re.compile(
    r"^Report[ \t]+Domain:[ \t]+(?P<domain>%s)[ \t]+Submitter:[ \t]+"
    r"(?P<submitter>%s)[ \t]+Report-ID:[ \t]+%s$"
    % (DOMAIN_NAME, DOMAIN_NAME, RIDTXT))
FILENAME_RE = re.compile(
    r"^(?P<receiver>%s)!(?P<domain>%s)!(?P<begin>[0-9]+)!(?P<end>[0-9]+)"
    r"(?:!(?P<uid>[A-Za-z0-9]+))?\.xml\.gz$" % (DOMAIN_NAME, DOMAIN_NAME))


class ReportError(AssertionError):
    """A report message that does not follow RFC 9990."""


def _need(cond, what):
    if not cond:
        raise ReportError(what)


# One RFC 9990 <record>, normalised:
#   source_ip, disposition, dkim, spf (policy_evaluated: the aligned
#   results), reasons (sorted tuple of reason types), header_from,
#   envelope_from (None when absent), auth_dkim (sorted tuple of
#   (domain, selector, result)), auth_spf ((domain, scope, result), scope
#   "mfrom" when absent, the only value the schema has; or None).
# count and envelope_to are kept apart (Record.count, Record.envelope_to)
# so that records can be compared by content.
Record = collections.namedtuple(
    "Record", "source_ip disposition dkim spf reasons header_from "
    "envelope_from auth_dkim auth_spf")


class ParsedRecord:
    def __init__(self, key, count, envelope_to, comments):
        self.key = key
        self.count = count
        self.envelope_to = envelope_to
        self.comments = comments

    def __repr__(self):
        return "<%d x %r>" % (self.count, self.key)


def unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", str(value))


def validate_xml(xml_bytes, xsd=XSD):
    """xmllint --noout --schema XSD; raises ReportError with its output
    when the document is not valid."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml_bytes)
        f.flush()
        r = subprocess.run(["xmllint", "--noout", "--schema", xsd, f.name],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
    if r.returncode != 0:
        raise ReportError("xmllint --schema: exit %d: %s"
                          % (r.returncode, r.stderr.strip()[-2000:]))


def _t(el, path):
    """The text of the child at path (namespace added), stripped, or
    None when absent."""
    parts = "/".join("{%s}%s" % (NS, p) for p in path.split("/"))
    x = el.find(parts)
    if x is None:
        return None
    return (x.text or "").strip()


def _all(el, path):
    parts = "/".join("{%s}%s" % (NS, p) for p in path.split("/"))
    return el.findall(parts)


def parse_xml(xml_bytes):
    """(metadata, policy, [ParsedRecord]) of a feedback document."""
    root = ET.fromstring(xml_bytes)
    _need(root.tag == "{%s}feedback" % NS,
          "root element %r, not feedback in %s" % (root.tag, NS))
    meta = {k: _t(root, "report_metadata/" + k) for k in
            ("org_name", "email", "extra_contact_info", "report_id",
             "generator", "date_range/begin", "date_range/end")}
    meta["begin"] = int(meta.pop("date_range/begin"))
    meta["end"] = int(meta.pop("date_range/end"))
    meta["version"] = _t(root, "version")
    meta["errors"] = [(e.text or "").strip()
                      for e in _all(root, "report_metadata/error")]
    policy = {k: _t(root, "policy_published/" + k) for k in
              ("domain", "p", "sp", "np", "adkim", "aspf",
               "discovery_method", "fo", "testing")}
    records = []
    for rec in _all(root, "record"):
        pe = rec.find("{%s}row/{%s}policy_evaluated" % (NS, NS))
        reasons = tuple(sorted(_t(r, "type") for r in
                               _all(pe, "reason")))
        comments = [_t(r, "comment") for r in _all(pe, "reason")]
        dk = tuple(sorted((_t(d, "domain"), _t(d, "selector"),
                           _t(d, "result"))
                          for d in _all(rec, "auth_results/dkim")))
        spfs = _all(rec, "auth_results/spf")
        _need(len(spfs) <= 1, "more than one auth_results/spf")
        spf = None
        if spfs:
            spf = (_t(spfs[0], "domain"), _t(spfs[0], "scope") or "mfrom",
                   _t(spfs[0], "result"))
        key = Record(
            source_ip=_t(rec, "row/source_ip"),
            disposition=_t(pe, "disposition"),
            dkim=_t(pe, "dkim"), spf=_t(pe, "spf"), reasons=reasons,
            header_from=_t(rec, "identifiers/header_from"),
            envelope_from=_t(rec, "identifiers/envelope_from"),
            auth_dkim=dk, auth_spf=spf)
        records.append(ParsedRecord(key, int(_t(rec, "row/count")),
                                    _t(rec, "identifiers/envelope_to"),
                                    comments))
    return meta, policy, records


class Report:
    def __init__(self, msg, raw, filename, fparts, subject, xml_bytes,
                 meta, policy, records):
        self.msg = msg
        self.raw = raw
        self.filename = filename
        self.receiver = fparts["receiver"]
        self.domain = fparts["domain"]
        self.begin = int(fparts["begin"])
        self.end = int(fparts["end"])
        self.unique_id = fparts["uid"]
        self.subject = subject
        self.xml = xml_bytes
        self.meta = meta
        self.policy = policy
        self.records = records

    @property
    def report_id(self):
        return self.meta["report_id"]

    def header(self, name):
        v = self.msg.get(name)
        return None if v is None else unfold(v)

    def totals(self):
        """{Record: summed count} over records of the same content."""
        out = collections.Counter()
        for r in self.records:
            out[r.key] += r.count
        return dict(out)

    def count(self):
        return sum(r.count for r in self.records)

    def __repr__(self):
        return "<Report %s %s>" % (self.filename, self.records)


def _addr_spec(value):
    addrs = email.utils.getaddresses([value])
    _need(len(addrs) == 1 and "@" in addrs[0][1],
          "not one address: %r" % value)
    return addrs[0][1]


def parse_message(raw, report_from=None, submitter=None):
    """Check one report message (bytes) and return a Report; see the
    module's comment. report_from/submitter, when given, must be the
    From: address and the Submitter."""
    _need(isinstance(raw, bytes), "raw must be bytes")
    # RFC 5322: lines end in CRLF on the wire; a file written for
    # sendmail(8) may use LF. Either way no bare CR.
    _need(b"\r" not in raw.replace(b"\r\n", b""), "bare CR in the message")
    for ln in raw.replace(b"\r\n", b"\n").split(b"\n"):
        _need(len(ln) <= 998, "a line longer than 998 octets (RFC 5322)")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    _need(not msg.defects, "message defects: %r" % msg.defects)
    for h in ("From", "To", "Date", "Message-ID", "Subject",
              "MIME-Version"):
        _need(len(msg.get_all(h) or []) == 1,
              "%s: %d fields, want one" % (h, len(msg.get_all(h) or [])))
    _need(unfold(msg["MIME-Version"]).split("(")[0].strip() == "1.0",
          "MIME-Version %r" % msg["MIME-Version"])
    _need(email.utils.parsedate_to_datetime(unfold(msg["Date"])),
          "Date %r" % msg["Date"])
    _need(re.match(r"^\s*<[^<>@\s]+@[^<>@\s]+>\s*$", unfold(
        msg["Message-ID"])), "Message-ID %r" % msg["Message-ID"])
    frm = _addr_spec(unfold(msg["From"]))
    if report_from is not None:
        _need(frm.lower() == report_from.lower(),
              "From %r, want %r" % (frm, report_from))

    subject = unfold(msg["Subject"]).strip(" \t")
    m = SUBJECT_RE.match(subject)
    _need(m, "Subject does not match the RFC 9990 ABNF: %r" % subject)
    s_domain = m.group("domain")
    s_submitter = m.group("submitter")
    s_rid = m.group("rid1") or m.group("rid2")
    if submitter is not None:
        _need(s_submitter.lower() == submitter.lower(),
              "Submitter %r, want %r" % (s_submitter, submitter))

    gz = [p for p in msg.walk() if not p.is_multipart() and
          p.get_content_type() == "application/gzip"]
    _need(len(gz) == 1, "%d application/gzip parts, want one (types: %r)"
          % (len(gz), [p.get_content_type() for p in msg.walk()]))
    part = gz[0]
    _need(not any(p.get_content_type() == "text/xml" for p in msg.walk()),
          "an uncompressed text/xml part as well")
    filename = part.get_filename()
    _need(filename, "the application/gzip part has no filename")
    fm = FILENAME_RE.match(filename)
    _need(fm, "filename does not match the RFC 9990 ABNF: %r" % filename)
    data = part.get_payload(decode=True)
    _need(data and data[:2] == b"\x1f\x8b", "the part is not gzip data")
    try:
        xml_bytes = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
    except (OSError, EOFError) as e:
        raise ReportError("gunzip: %s" % e)
    validate_xml(xml_bytes)
    meta, policy, records = parse_xml(xml_bytes)

    _need(s_domain.lower() == fm.group("domain").lower() ==
          (policy["domain"] or "").lower(),
          "policy domain: Subject %r, filename %r, XML %r"
          % (s_domain, fm.group("domain"), policy["domain"]))
    _need(s_submitter.lower() == fm.group("receiver").lower(),
          "Submitter %r is not the filename's receiver %r"
          % (s_submitter, fm.group("receiver")))
    _need(s_rid == meta["report_id"].strip("<>"),
          "Report-ID %r, XML report_id %r" % (s_rid, meta["report_id"]))
    _need(int(fm.group("begin")) == meta["begin"] and
          int(fm.group("end")) == meta["end"],
          "filename period %s-%s, XML %d-%d" % (
              fm.group("begin"), fm.group("end"), meta["begin"],
              meta["end"]))
    _need(meta["begin"] < meta["end"], "empty date_range")
    _need(records, "no record (RFC 9990 s. 3.1.1.7: one or more)")
    return Report(msg, raw, filename, fm.groupdict(), subject, xml_bytes,
                  meta, policy, records)


def read_dry_run(directory, **kw):
    """The reports authmilter-report --dry-run wrote in directory:
    {policy domain: Report}. Each .eml must have its .xml.gz beside it
    (same name), holding the attachment's bytes."""
    names = sorted(os.listdir(directory))
    emls = [n for n in names if n.endswith(".eml")]
    gzs = [n for n in names if n.endswith(".xml.gz")]
    _need(sorted(n[:-len(".eml")] for n in emls) ==
          sorted(n[:-len(".xml.gz")] for n in gzs),
          ".eml and .xml.gz files do not pair up: %r" % names)
    out = {}
    for n in emls:
        with open(os.path.join(directory, n), "rb") as f:
            rep = parse_message(f.read(), **kw)
        _need(rep.filename == n[:-len(".eml")] + ".xml.gz",
              "%s carries %s" % (n, rep.filename))
        with open(os.path.join(directory, rep.filename), "rb") as f:
            _need(gzip.decompress(f.read()) == rep.xml,
                  "%s differs from the attachment" % rep.filename)
        _need(rep.domain not in out, "two reports for %s" % rep.domain)
        out[rep.domain] = rep
    return out


def build_message(xml_bytes, domain, submitter, report_id, begin, end,
                  report_from="dmarc-reports@%s", to="dmarc@%s",
                  unique_id=None, subject=None, filename=None):
    """A report message made by hand (bytes, CRLF): for testing this
    module. subject/filename replace the well-formed ones."""
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    outer = MIMEMultipart()
    outer["From"] = report_from % submitter if "%s" in report_from \
        else report_from
    outer["To"] = to % domain if "%s" in to else to
    outer["Date"] = email.utils.formatdate(localtime=False)
    outer["Message-ID"] = "<%s>" % report_id
    outer["Subject"] = subject or ("Report Domain: %s Submitter: %s "
                                   "Report-ID: <%s>"
                                   % (domain, submitter, report_id))
    outer.attach(MIMEText("DMARC aggregate report.\n"))
    fname = filename or "%s!%s!%d!%d%s.xml.gz" % (
        submitter, domain, begin, end,
        "!" + unique_id if unique_id else "")
    part = MIMEApplication(gzip.compress(xml_bytes), "gzip")
    part.add_header("Content-Disposition", "attachment", filename=fname)
    outer.attach(part)
    return outer.as_bytes(policy=email.policy.SMTP)


def feedback_xml(meta, policy, records):
    """A feedback document made with ElementTree from metadata (dict:
    org_name, email, report_id, begin, end), policy_published (dict, None
    values left out) and {Record: count}: for testing this module and the
    tests' expectations against each other."""
    def sub(parent, tag, text=None):
        el = ET.SubElement(parent, "{%s}%s" % (NS, tag))
        if text is not None:
            el.text = str(text)
        return el
    ET.register_namespace("", NS)
    root = ET.Element("{%s}feedback" % NS)
    sub(root, "version", "1.0")
    md = sub(root, "report_metadata")
    for k in ("org_name", "email", "report_id"):
        sub(md, k, meta[k])
    dr = sub(md, "date_range")
    sub(dr, "begin", meta["begin"])
    sub(dr, "end", meta["end"])
    pp = sub(root, "policy_published")
    for k, v in policy.items():
        if v is not None:
            sub(pp, k, v)
    for r, count in records.items():
        rec = sub(root, "record")
        row = sub(rec, "row")
        sub(row, "source_ip", r.source_ip)
        sub(row, "count", count)
        pe = sub(row, "policy_evaluated")
        sub(pe, "disposition", r.disposition)
        sub(pe, "dkim", r.dkim)
        sub(pe, "spf", r.spf)
        for reason in r.reasons:
            sub(sub(pe, "reason"), "type", reason)
        ids = sub(rec, "identifiers")
        sub(ids, "header_from", r.header_from)
        if r.envelope_from is not None:
            sub(ids, "envelope_from", r.envelope_from)
        ar = sub(rec, "auth_results")
        for d, sel, res in reversed(r.auth_dkim):
            dk = sub(ar, "dkim")
            sub(dk, "domain", d)
            sub(dk, "selector", sel)
            sub(dk, "result", res)
        if r.auth_spf is not None:
            sp = sub(ar, "spf")
            sub(sp, "domain", r.auth_spf[0])
            sub(sp, "scope", r.auth_spf[1])
            sub(sp, "result", r.auth_spf[2])
    return ET.tostring(root, xml_declaration=True, encoding="UTF-8")


def sample_xml(report_id, begin, end, domain="example.com"):
    """RFC 9990's sample report with its id, period and domain replaced."""
    with open(SAMPLE, "rb") as f:
        text = f.read().decode()
    text = text.replace("3v98abbp8ya9n3va8yr8oa3ya", report_id)
    text = text.replace("<begin>302832000</begin>",
                        "<begin>%d</begin>" % begin)
    text = text.replace("<end>302918399</end>", "<end>%d</end>" % end)
    text = text.replace("<domain>example.com</domain>\n    <p>",
                        "<domain>%s</domain>\n    <p>" % domain)
    return text.encode()


# -- what smtp-sink received --------------------------------------------------


def sink_envelope(raw):
    """smtp-sink -d puts X-Mail-Args / X-Rcpt-Args lines above the
    message: (mail from, [rcpt to]) read from them."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    mail = [unfold(v).strip() for v in msg.get_all("X-Mail-Args") or []]
    rcpt = [unfold(v).strip() for v in msg.get_all("X-Rcpt-Args") or []]
    return mail, rcpt


def sink_snapshot(mta):
    return set(mta._sink_files())


def new_reports(mta, before, n, timeout=60, settle=3.0):
    """Wait for n new messages in smtp-sink that carry an
    application/gzip part (complete: size steady for a while), then
    `settle` seconds more for any further one; return them all as
    (raw, parsed message bytes without smtp-sink's lines) pairs."""
    sizes = {}
    done = {}

    def scan():
        for p in mta._sink_files():
            if p in before or p in done:
                continue
            try:
                with open(p, "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if b"application/gzip" not in raw:
                continue
            if sizes.get(p) == len(raw):
                done[p] = raw
            sizes[p] = len(raw)
        return len(done) >= n
    if n:
        harness.wait_until(
            scan, timeout, "%d report messages in the sink"
                           % n, interval=0.5)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        scan()
        time.sleep(0.5)
    for p in done:
        mta.seen.add(p)
    return [done[p] for p in sorted(done)]


def strip_sink_lines(raw):
    """The message as submitted: smtp-sink -d writes X-Client-*,
    X-Helo-Args, X-Mail-Args, X-Rcpt-Args lines above it; Postfix adds
    its Received: line."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    i = 0
    while i < len(lines) and re.match(
            rb"^X-(Client|Helo|Mail|Rcpt)[A-Za-z-]*:", lines[i]):
        i += 1
    return b"\r\n".join(lines[i:])


def dnsd_txt(dnsd):
    """A dnsfunc for dkimpy that asks dnsd (so the key must be in the
    test zone)."""
    from dnslib import DNSRecord, QTYPE

    def lookup(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        q = DNSRecord.question(name.rstrip("."), "TXT")
        a = DNSRecord.parse(q.send("127.0.0.1", dnsd.port, timeout=timeout))
        out = b""
        for rr in a.rr:
            if rr.rtype == QTYPE.TXT:
                out = b"".join(rr.rdata.data)
        return out
    return lookup
