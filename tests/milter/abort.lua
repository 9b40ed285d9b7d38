-- abort.lua: an aborted message leaves nothing behind; the next message
-- on the connection is handled from scratch (its own forged header only).
-- LOG removed forged Authentication-Results #1
-- LOG mailfrom=second@example\.org
conn = mt.connect(SOCK, 40, 0.05)
assert(conn ~= nil, "connect")
assert(mt.negotiate(conn, nil, nil, nil) == nil)
assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)
assert(mt.mailfrom(conn, "<first@example.org>") == nil)
assert(mt.rcptto(conn, "<b@example.net>") == nil)
assert(mt.header(conn, "Authentication-Results", "other.example; none") == nil)
assert(mt.header(conn, "Authentication-Results", "other.example; none") == nil)
assert(mt.abort(conn) == nil)
assert(mt.mailfrom(conn, "<second@example.org>") == nil)
assert(mt.rcptto(conn, "<b@example.net>") == nil)
assert(mt.header(conn, "Authentication-Results", "mx.test; none") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results"), "forged removed")
mt.disconnect(conn)
