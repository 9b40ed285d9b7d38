-- authenticated_checked.lua: with SkipAuthenticated=no an SMTP-AUTH
-- client is checked like any other.
-- LOG mailfrom=alice@example\.org .*action=accept
conn = mt.connect(SOCK, 40, 0.05)
assert(conn ~= nil, "connect")
assert(mt.negotiate(conn, nil, nil, nil) == nil)
assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)
mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "alice")
assert(mt.mailfrom(conn, "<alice@example.org>") == nil)
assert(mt.rcptto(conn, "<b@example.net>") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results"), "checked")
assert(mt.eom_check(conn, MT_HDRINSERT, "X-Authmilter"), "X-Authmilter")
mt.disconnect(conn)
