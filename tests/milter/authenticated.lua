-- authenticated.lua: an SMTP-AUTH client ({auth_authen} at MAIL) is not
-- checked with SkipAuthenticated=yes (the default); forged A-R still go.
-- An unauthenticated message on the same connection is checked.
-- LOG not checked \(authenticated\)
-- LOG mailfrom=second@example\.org .*action=accept
conn = mt.connect(SOCK, 40, 0.05)
assert(conn ~= nil, "connect")
assert(mt.negotiate(conn, nil, nil, nil) == nil)
assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)
assert(mt.helo(conn, "client.example") == nil)
mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "alice", "{auth_type}", "PLAIN")
assert(mt.mailfrom(conn, "<alice@example.org>") == nil)
assert(mt.rcptto(conn, "<b@example.net>") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.header(conn, "Authentication-Results", "mx.test; dmarc=pass") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results"), "forged removed")
assert(not mt.eom_check(conn, MT_HDRINSERT), "no header inserted")

mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "")
assert(mt.mailfrom(conn, "<second@example.org>") == nil)
assert(mt.rcptto(conn, "<b@example.net>") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results"), "second message checked")
mt.disconnect(conn)
