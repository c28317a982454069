"""The cache service speaks memcached's text protocol exactly: proven
differentially against Debian's memcached 1.6 and with real, unchanged
memcached clients (pymemcache, libmemcached's tools).

Run: /usr/bin/python3 -m pytest tests/integration/test_cache.py
(EDDY_BUILD_DIR=build-dir; EDDY_CACHE_ORACLE_ONLY=1 runs everything against
two memcacheds, to see memcached's own replies).

Each raw scenario is a list of steps: (request, expected) pairs, run on both
servers in lock step. Every reply of eddy must be byte-identical to
memcached's; where `expected` is given, memcached's reply must also be that
(it keeps the test honest about what the protocol says). Requests may be
callables of the connection (to use the cas unique the server just gave).
"""

import re
import subprocess
import threading
import time

import pytest

from cache_support import (  # noqa: F401  (fixtures)
    Conn,
    Sleep,
    assert_same,
    pair,
    run_side_by_side,
    servers,
    sock_tmp,
    stats,
)

try:
    from pymemcache.client.base import Client, PooledClient
except ImportError:  # only the pymemcache tests need it: they say so
    Client = PooledClient = None


def require_pymemcache():
    if Client is None:
        pytest.fail("pymemcache is missing: scripts/bootstrap installs python3-pymemcache "
                    "(run the tests with /usr/bin/python3)")


def check(pair_, steps):
    mc, ed = pair_
    plain = [s if isinstance(s, Sleep) else s[0] for s in steps]
    t_mc, t_ed = run_side_by_side([mc.port, ed.port], plain)
    expected = [s[1] for s in steps if not isinstance(s, Sleep)]
    wrong = [
        f"{req[:100]!r}: memcached said {got!r}, the test expected {exp!r}"
        for (req, got), exp in zip(t_mc, expected)
        if exp is not None and got != exp
    ]
    assert not wrong, "the test's expectation is not memcached's behaviour:\n" + "\n".join(wrong)
    assert_same(t_mc, t_ed)
    return t_mc, t_ed


def cas_of(conn, delta=0):
    assert conn.last_cas is not None, "no cas unique seen yet"
    return conn.last_cas + delta


# ---- Classic storage commands ---------------------------------------------


def test_storage_commands(pair):
    check(pair, [
        (b"get a\r\n", b"END\r\n"),
        (b"set a 5 0 3\r\nabc\r\n", b"STORED\r\n"),
        (b"get a\r\n", b"VALUE a 5 3\r\nabc\r\nEND\r\n"),
        (b"gets a\r\n", b"VALUE a 5 3 <cas>\r\nabc\r\nEND\r\n"),
        (b"add a 0 0 1\r\nq\r\n", b"NOT_STORED\r\n"),
        (b"add b 7 0 2\r\nbb\r\n", b"STORED\r\n"),
        (b"replace zz 0 0 1\r\nq\r\n", b"NOT_STORED\r\n"),
        (b"replace b 8 0 3\r\nBBB\r\n", b"STORED\r\n"),
        (b"append zz 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"prepend zz 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        # append/prepend ignore the flags and expiry they are given
        (b"append a 9 9 2\r\nde\r\n", b"STORED\r\n"),
        (b"prepend a 9 9 2\r\nyz\r\n", b"STORED\r\n"),
        (b"get a b zz a\r\n",
         b"VALUE a 5 7\r\nyzabcde\r\nVALUE b 8 3\r\nBBB\r\nVALUE a 5 7\r\nyzabcde\r\nEND\r\n"),
        (b"set empty 0 0 0\r\n\r\n", b"STORED\r\n"),
        (b"get empty\r\n", b"VALUE empty 0 0\r\n\r\nEND\r\n"),
        (b"set bin 0 0 6\r\na\r\nb\x00c\r\n", b"STORED\r\n"),
        (b"get bin\r\n", b"VALUE bin 0 6\r\na\r\nb\x00c\r\nEND\r\n"),
        (b"set f 4294967295 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get f\r\n", b"VALUE f 4294967295 1\r\nx\r\nEND\r\n"),
        (b"delete a\r\n", b"DELETED\r\n"),
        (b"delete a\r\n", b"NOT_FOUND\r\n"),
        (b"delete b 0\r\n", b"DELETED\r\n"),  # the old "time" 0 is accepted
        (b"delete b 5\r\n",
         b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
        (b"get a b\r\n", b"END\r\n"),
        (b"k" * 250 + b"\r\n", b"ERROR\r\n"),
        (b"set " + b"k" * 250 + b" 1 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get " + b"k" * 250 + b"\r\n", b"VALUE " + b"k" * 250 + b" 1 1\r\nx\r\nEND\r\n"),
    ])


def test_cas(pair):
    check(pair, [
        (b"cas a 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n"),
        (b"set a 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"gets a\r\n", b"VALUE a 0 1 <cas>\r\nx\r\nEND\r\n"),
        # a unique the server never gave out
        (lambda c: b"cas a 0 0 1 %d\r\ny\r\n" % cas_of(c, 10**12), b"EXISTS\r\n"),
        (lambda c: b"cas a 3 0 1 %d\r\ny\r\n" % cas_of(c), b"STORED\r\n"),
        # the same unique again: the value changed since
        (lambda c: b"cas a 0 0 1 %d\r\nz\r\n" % cas_of(c), b"EXISTS\r\n"),
        (b"gets a\r\n", b"VALUE a 3 1 <cas>\r\ny\r\nEND\r\n"),
        (lambda c: b"cas a 0 0 1 %d noreply\r\nw\r\n" % cas_of(c), b""),
        (b"get a\r\n", b"VALUE a 0 1\r\nw\r\nEND\r\n"),
        (b"cas a 0 0 1\r\nx\r\n", b"ERROR\r\nERROR\r\n"),
        (b"cas a 0 0 1 abc\r\nx\r\n", None),
    ])


def test_noreply(pair):
    check(pair, [
        (b"set a 0 0 1 noreply\r\n1\r\n", b""),
        (b"add a 0 0 1 noreply\r\n2\r\n", b""),
        (b"add b 0 0 1 noreply\r\n2\r\n", b""),
        (b"replace a 0 0 1 noreply\r\n3\r\n", b""),
        (b"append a 0 0 1 noreply\r\n4\r\n", b""),
        (b"prepend a 0 0 1 noreply\r\n5\r\n", b""),
        (b"incr b 10 noreply\r\n", b""),
        (b"decr b 3 noreply\r\n", b""),
        (b"touch a 100 noreply\r\n", b""),
        (b"get a b\r\n", b"VALUE a 0 3\r\n534\r\nVALUE b 0 2\r\n9 \r\nEND\r\n"),
        (b"delete a noreply\r\n", b""),
        (b"delete a noreply\r\n", b""),
        (b"incr zz 1 noreply\r\n", b""),
        (b"get a\r\n", b"END\r\n"),
        # a bad data chunk with noreply: the error is silenced, and what is
        # left of the line is read as a command
        (b"set x 0 0 1 noreply\r\nabc\r\n", b"ERROR\r\n"),
        (b"flush_all noreply\r\n", b""),
        (b"get b\r\n", b"END\r\n"),
    ])


# ---- incr / decr -----------------------------------------------------------


def test_incr_decr(pair):
    check(pair, [
        (b"incr n 1\r\n", b"NOT_FOUND\r\n"),
        (b"decr n 1\r\n", b"NOT_FOUND\r\n"),
        (b"set n 0 0 1\r\n5\r\n", b"STORED\r\n"),
        (b"incr n 10\r\n", b"15\r\n"),
        (b"decr n 100\r\n", b"0\r\n"),  # decr stops at zero
        (b"set n 0 0 20\r\n18446744073709551615\r\n", b"STORED\r\n"),
        (b"incr n 2\r\n", b"1\r\n"),  # incr wraps at 2^64
        (b"incr n 18446744073709551615\r\n", b"0\r\n"),
        (b"incr n 18446744073709551616\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n abc\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"decr n\r\n", b"ERROR\r\n"),
        (b"set s 0 0 3\r\nabc\r\n", b"STORED\r\n"),
        (b"incr s 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set s 0 0 0\r\n\r\n", b"STORED\r\n"),
        (b"incr s 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set s 0 0 21\r\n123456789012345678901\r\n", b"STORED\r\n"),
        (b"decr s 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set s 0 0 3\r\n 12\r\n", b"STORED\r\n"),
        (b"incr s 1\r\n", b"13\r\n"),
        (b"set s 0 0 3\r\n12 \r\n", b"STORED\r\n"),
        (b"incr s 1\r\n", b"13\r\n"),
        (b"set f 77 0 2\r\n99\r\n", b"STORED\r\n"),
        (b"incr f 1\r\n", b"100\r\n"),
        (b"get f\r\n", b"VALUE f 77 3\r\n100\r\nEND\r\n"),  # flags kept
    ])


def test_decr_keeps_length(pair):
    """memcached rewrites a shrinking number in place and pads it with
    spaces ("10" decr 1 reads back as "9 "): clients see those bytes, so
    eddy must give the same."""
    check(pair, [
        (b"set n 0 0 2\r\n10\r\n", b"STORED\r\n"),
        (b"decr n 1\r\n", b"9\r\n"),
        (b"get n\r\n", b"VALUE n 0 2\r\n9 \r\nEND\r\n"),
        (b"incr n 991\r\n", b"1000\r\n"),
        (b"get n\r\n", b"VALUE n 0 4\r\n1000\r\nEND\r\n"),
    ])


# ---- touch / gat / gats ----------------------------------------------------


def test_touch_gat_gats(pair):
    check(pair, [
        (b"touch a 10\r\n", b"NOT_FOUND\r\n"),
        (b"set a 1 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"set b 2 0 1\r\ny\r\n", b"STORED\r\n"),
        (b"touch a 10\r\n", b"TOUCHED\r\n"),
        (b"touch a\r\n", b"ERROR\r\n"),
        (b"gat 100 a zz b\r\n", b"VALUE a 1 1\r\nx\r\nVALUE b 2 1\r\ny\r\nEND\r\n"),
        (b"gats 100 a\r\n", b"VALUE a 1 1 <cas>\r\nx\r\nEND\r\n"),
        (b"gat 10\r\n", b"END\r\n"),
        (b"gat a\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"gat -1 b\r\n", b"VALUE b 2 1\r\ny\r\nEND\r\n"),  # returned, then expired
        (b"get b\r\n", b"END\r\n"),
        (b"touch a -1\r\n", b"TOUCHED\r\n"),
        (b"get a\r\n", b"END\r\n"),
    ])


# ---- Expiry ----------------------------------------------------------------


def test_expiry_rules(pair):
    """Relative up to 30 days, absolute unix time after, negative means
    already expired; a touch or gat moves the deadline."""
    now = int(time.time())
    before_stats = {}

    def stats_before(conn):
        port = conn.s.getpeername()[1]
        before_stats[port] = stats(port)
        return b""

    check(pair, [
        (b"set neg 0 -1 1\r\nx\r\n", b"STORED\r\n"),
        (b"get neg\r\n", b"END\r\n"),
        (b"set rel30d 0 2592000 1\r\nx\r\n", b"STORED\r\n"),  # 30 days: relative
        (b"get rel30d\r\n", b"VALUE rel30d 0 1\r\nx\r\nEND\r\n"),
        (b"set abs1970 0 2592001 1\r\nx\r\n", b"STORED\r\n"),  # absolute, in 1970
        (b"get abs1970\r\n", b"END\r\n"),
        (b"set abspast 0 %d 1\r\nx\r\n" % (now - 10), b"STORED\r\n"),
        (b"get abspast\r\n", b"END\r\n"),
        (b"set absfuture 0 %d 1\r\nx\r\n" % (now + 3600), b"STORED\r\n"),
        (b"set abssoon 0 %d 1\r\nx\r\n" % (now + 2), b"STORED\r\n"),
        (b"set rel1 0 1 1\r\nx\r\n", b"STORED\r\n"),
        (b"set rel1touched 0 1 1\r\nx\r\n", b"STORED\r\n"),
        (b"touch rel1touched 100\r\n", b"TOUCHED\r\n"),
        (b"set rel1gat 0 1 1\r\nx\r\n", b"STORED\r\n"),
        (b"gat 100 rel1gat\r\n", b"VALUE rel1gat 0 1\r\nx\r\nEND\r\n"),
        (b"set forever 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"set bad 0 abc 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"get rel1 abssoon absfuture\r\n",
         b"VALUE rel1 0 1\r\nx\r\nVALUE abssoon 0 1\r\nx\r\nVALUE absfuture 0 1\r\nx\r\nEND\r\n"),
        # memcached's clock ticks once a second: 3.5 s is past any rounding
        Sleep(3.5),
        (lambda c: stats_before(c), b""),  # sends only the closing mn
        (b"get rel1 abssoon absfuture rel1touched rel1gat forever rel30d\r\n",
         b"VALUE absfuture 0 1\r\nx\r\nVALUE rel1touched 0 1\r\nx\r\n"
         b"VALUE rel1gat 0 1\r\nx\r\nVALUE forever 0 1\r\nx\r\nVALUE rel30d 0 1\r\nx\r\nEND\r\n"),
        (b"touch rel1 100\r\n", b"NOT_FOUND\r\n"),
        (b"add rel1 0 0 1\r\ny\r\n", b"STORED\r\n"),  # an expired key is free
    ])
    # stats count the reads that found an item expired while stored: rel1
    # and abssoon, once each (touch and add above found nothing to count)
    for srv in pair:
        before = before_stats[srv.port]
        after = stats(srv.port)
        got = int(after["get_expired"]) - int(before["get_expired"])
        assert got == 2, f"{srv.name}: get_expired grew by {got}, not 2, over reads of 2 expired items"
        assert int(after["get_misses"]) - int(before["get_misses"]) == 2, srv.name


def test_flush_all_with_delay(pair):
    check(pair, [
        (b"set a 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"flush_all x\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"flush_all 2\r\n", b"OK\r\n"),
        (b"get a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n"),  # not yet
        Sleep(3.5),
        (b"get a\r\n", b"END\r\n"),
        (b"set b 0 0 1\r\ny\r\n", b"STORED\r\n"),  # stores work after a flush
        (b"get b\r\n", b"VALUE b 0 1\r\ny\r\nEND\r\n"),
        (b"flush_all\r\n", b"OK\r\n"),
        (b"get b\r\n", b"END\r\n"),
        (b"set c 0 0 1\r\nz\r\n", b"STORED\r\n"),
        (b"flush_all 0\r\n", b"OK\r\n"),
        (b"get c\r\n", b"END\r\n"),
    ])


# ---- Errors and limits -----------------------------------------------------


def test_error_replies(pair):
    long_key = b"k" * 251
    check(pair, [
        (b"foo\r\n", b"ERROR\r\n"),
        (b"\r\n", b"ERROR\r\n"),
        (b"GET a\r\n", b"ERROR\r\n"),  # commands are case-sensitive
        (b"get\r\n", b"ERROR\r\n"),
        (b"set a 0 0\r\n", b"ERROR\r\n"),
        (b"set a 0 0 -1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"set a 0 0 abc\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"set a -1 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        # the data block is not followed by CRLF: what is left is a command
        (b"set k 0 0 3\r\nabcde\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
        (b"get k\r\n", b"END\r\n"),
        # keys longer than 250 bytes
        (b"set " + long_key + b" 0 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"get " + long_key + b"\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"delete " + long_key + b"\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"incr " + long_key + b" 1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"verbosity\r\n", b"ERROR\r\n"),
        (b"verbosity 1\r\n", b"OK\r\n"),
        (b"verbosity 1 noreply\r\n", b""),
        (b"set ok 0 0 1\r\nx\r\n", b"STORED\r\n"),  # the connection still works
        (b"get ok\r\n", b"VALUE ok 0 1\r\nx\r\nEND\r\n"),
    ])


def test_item_size_limit(pair):
    """Values above the item size limit (1 MiB) are refused and their data
    swallowed; values well under it are stored."""
    big = b"x" * (2 * 1024 * 1024)
    half = bytes(range(256)) * 2048  # 512 KiB
    check(pair, [
        (b"set big 0 0 %d\r\n" % len(big) + big + b"\r\n", b"SERVER_ERROR object too large for cache\r\n"),
        (b"get big\r\n", b"END\r\n"),
        (b"set half 0 0 %d\r\n" % len(half) + half + b"\r\n", b"STORED\r\n"),
        (b"get half\r\n", b"VALUE half 0 %d\r\n" % len(half) + half + b"\r\nEND\r\n"),
        (b"set half 0 0 1\r\nx\r\n", b"STORED\r\n"),
        # a too-large set replaces nothing, but the old value is gone
        # (memcached deletes it so a client never reads a stale value)
        (b"set half 0 0 %d\r\n" % len(big) + big + b"\r\n", b"SERVER_ERROR object too large for cache\r\n"),
        (b"get half\r\n", None),
    ])


def test_pipelined_batch(pair):
    """Many commands in one packet, with noreply ones among them: the replies
    come back in order, all of them."""
    batch = b"".join(
        [b"set p%d 0 0 %d\r\n%s\r\n" % (i, len(str(i)), str(i).encode()) for i in range(200)]
        + [b"incr p%d 1 noreply\r\n" % i for i in range(0, 200, 3)]
        + [b"get " + b" ".join(b"p%d" % i for i in range(0, 200, 7)) + b"\r\n"]
        + [b"delete p%d\r\n" % i for i in range(0, 200, 5)]
        + [b"bogus\r\n", b"gets p1 p2\r\n", b"touch p4 0\r\n", b"decr p6 100\r\n"]
        + [b"mg p%d v\r\n" % i for i in range(10)]
    )
    t_mc, t_ed = check(pair, [(batch, None)])
    assert t_mc[0][1].count(b"STORED\r\n") == 200
    assert t_mc[0][1].count(b"DELETED\r\n") == 40


def test_requests_split_byte_by_byte(pair):
    """Commands and data blocks that arrive one byte per packet get the same
    replies as in one piece."""
    batch = (b"set a 1 0 5\r\nhello\r\nget a zz\r\nincr n 1\r\nset n 0 0 2\r\n41\r\n"
             b"incr n 1\r\nappend a 0 0 1 noreply\r\n!\r\ngets a\r\nms m 2 T0\r\nhi\r\n"
             b"mg m v k\r\nset k 0 0 3\r\nabcde\r\ndelete a\r\nbogus\r\n")
    replies = []
    for srv in pair:
        c = Conn(srv.port)
        try:
            for i in range(len(batch)):
                c.s.sendall(batch[i:i + 1])
                time.sleep(0.0005)  # separate packets, mostly
            replies.append(c.exchange(b""))
        finally:
            c.close()
    assert replies[0].startswith(b"STORED\r\nVALUE a 1 5\r\nhello\r\nEND\r\nNOT_FOUND\r\n"), replies[0]
    from cache_support import normalize

    assert normalize(replies[1]) == normalize(replies[0])


def test_quit_and_version(pair):
    mc, ed = pair
    for srv in pair:
        c = Conn(srv.port)
        try:
            v = c.exchange(b"version\r\n")
            # the version string is each server's own: its form is the same
            assert re.fullmatch(rb"VERSION [0-9A-Za-z.\-+_]+\r\n", v), v
            assert c.exchange(b"set a 0 0 1\r\nx\r\nquit\r\nget a\r\n") == b"STORED\r\n<EOF>"
        finally:
            c.close()


# ---- Meta commands ---------------------------------------------------------


def test_meta_commands(pair):
    check(pair, [
        (b"mn\r\n", b"MN\r\n"),
        (b"mg a v\r\n", b"EN\r\n"),
        (b"mg a v q\r\n", b""),  # quiet: misses say nothing
        (b"ms a 3 F5 T0\r\nxyz\r\n", b"HD\r\n"),
        (b"mg a\r\n", b"HD\r\n"),
        (b"mg a v\r\n", b"VA 3\r\nxyz\r\n"),
        (b"mg a s v f t k c\r\n", b"VA 3 s3 f5 t-1 ka c<cas>\r\nxyz\r\n"),
        (b"mg a k v O123 q\r\n", b"VA 3 ka O123\r\nxyz\r\n"),
        (b"mg zz k O9\r\n", b"EN kzz O9\r\n"),
        (lambda c: b"ms a 1 C%d\r\nb\r\n" % cas_of(c, 10**12), b"EX\r\n"),
        (lambda c: b"ms a 1 C%d\r\nb\r\n" % cas_of(c), b"HD\r\n"),
        (b"mg a v\r\n", b"VA 1\r\nb\r\n"),
        (b"ms a 1 q\r\nc\r\n", b""),
        (b"ms a 1 MA\r\nd\r\n", b"HD\r\n"),  # append
        (b"ms a 1 MP\r\ne\r\n", b"HD\r\n"),  # prepend
        (b"mg a v\r\n", b"VA 3\r\necd\r\n"),
        (b"ms a 1 ME\r\nf\r\n", b"NS\r\n"),  # add: exists
        (b"ms zz 1 MR\r\nf\r\n", b"NS\r\n"),  # replace: missing
        (b"ms a 2 k O7\r\nhi\r\n", b"HD ka O7\r\n"),
        (b"md a q\r\n", b""),
        (b"md a\r\n", b"NF\r\n"),
        (b"md a q\r\n", b"NF\r\n"),  # memcached 1.6.18 hides only HD here
        (b"mg a v\r\n", b"EN\r\n"),
        (b"ma cnt\r\n", b"NF\r\n"),
        (b"ma cnt N0 J5\r\n", b"HD\r\n"),  # auto-create with 5
        (b"ma cnt v\r\n", b"VA 1\r\n6\r\n"),
        (b"ma cnt D10 v\r\n", b"VA 2\r\n16\r\n"),
        (b"ma cnt MD D100 v\r\n", b"VA 1\r\n0\r\n"),
        (b"ma cnt MI D3 q\r\n", b""),
        (b"mg cnt v\r\n", b"VA 2\r\n3 \r\n"),  # rewritten in place, padded
        (b"ms txt 2\r\nab\r\n", b"HD\r\n"),
        (b"ma txt\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"mg\r\n", None),
        (b"ms b 2\r\nabcd\r\n", None),
        (b"mn\r\n", b"MN\r\n"),
    ])


def test_meta_ttl_flags(pair):
    """t reports the seconds left; memcached's clock ticks once a second, so
    the figure may be one lower on either server: compared with a tolerance
    of one, and everything else exactly."""
    mc, ed = pair
    steps = [
        b"ms a 1 T100\r\nx\r\n",
        b"mg a t v\r\n",
        b"mg a T500 t\r\n",  # touch, returning the ttl from before it? (both alike)
        b"mg a t\r\n",
        b"ms b 1 T0\r\ny\r\n",
        b"mg b t\r\n",
        b"ms c 1 T-1\r\nz\r\n",
        b"mg c t v\r\n",
    ]
    t_mc, t_ed = run_side_by_side([mc.port, ed.port], steps)

    def ttls(t):
        return [[int(x) for x in re.findall(rb"\bt(-?\d+)\b", reply)] for _, reply in t]

    def shape(t):
        return [re.sub(rb"\bt-?\d+\b", b"t#", reply) for _, reply in t]

    assert shape(t_mc) == shape(t_ed), (t_mc, t_ed)
    for a, b in zip(ttls(t_mc), ttls(t_ed)):
        assert len(a) == len(b) and all(abs(x - y) <= 1 for x, y in zip(a, b)), (t_mc, t_ed)
    assert ttls(t_mc)[5] == [-1]  # T0: never expires
    assert t_mc[7][1] == b"EN\r\n"  # T-1: already expired


# ---- stats -----------------------------------------------------------------

# stats that must equal memcached's after the same commands on fresh servers.
# Left out, legitimately different: pid, uptime, time, version, pointer_size,
# rusage_*, bytes (each server's per-item overhead is its own), threads,
# and memcached's internals
# (slabs, LRU crawler, hash table).
# Connection counts are checked against the truth (memcached agrees), and so
# is total_items: memcached's own varies run to run (an incr sometimes makes a
# new item instead of rewriting in place, and counts it).
# Also legitimately different: an item stored already expired (negative or
# past exptime). memcached links it and counts it in total_items, and a later
# get counts in get_expired; eddy may drop it at once (the client cannot tell:
# it reads a miss either way). So these stats are compared on items that
# really expire while stored (test_expiry_rules), not on those.
SAME_STATS = [
    "curr_items", "get_hits", "get_misses", "get_expired", "cmd_get",
    "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "incr_hits", "incr_misses",
    "decr_hits", "decr_misses", "cas_hits", "cas_misses", "cas_badval", "evictions",
    "limit_maxbytes",
]


def test_stats_are_true(pair):
    mc, ed = pair
    steps = [
        b"set a 0 0 1\r\n1\r\n", b"set b 0 0 1\r\n2\r\n", b"add c 0 0 1\r\n3\r\n",
        b"get a b zz\r\n", b"gets a\r\n", b"get nope\r\n",
        b"delete c\r\n", b"delete c\r\n", b"incr a 1\r\n", b"incr zz 1\r\n",
        b"decr b 1\r\n", b"decr zz 1\r\n", b"touch a 100\r\n", b"touch zz 100\r\n",
        b"gets b\r\n", lambda c: b"cas b 0 0 1 %d\r\n9\r\n" % cas_of(c),
        lambda c: b"cas b 0 0 1 %d\r\n8\r\n" % cas_of(c), b"cas zz 0 0 1 1\r\nx\r\n",
        b"set big 0 0 100\r\n" + b"v" * 100 + b"\r\n",
    ]
    t_mc, t_ed = run_side_by_side([mc.port, ed.port], steps)
    assert_same(t_mc, t_ed)
    s_mc, s_ed = stats(mc.port), stats(ed.port)
    diffs = {k: (s_mc.get(k), s_ed.get(k)) for k in SAME_STATS if s_mc.get(k) != s_ed.get(k)}
    assert not diffs, f"stats differ (memcached, eddy): {diffs}"
    assert s_ed["get_hits"] == "4" and s_ed["get_misses"] == "2" and s_ed["curr_items"] == "3"
    assert s_ed["total_items"] == "5", s_ed["total_items"]  # a, b, c, cas b, big
    # true figures where memcached's are its own
    for k in ("uptime", "bytes", "curr_connections", "total_connections"):
        assert k in s_ed and s_ed[k].isdigit(), (k, s_ed.get(k))
    assert int(s_ed["bytes"]) >= 3 + 100 + len("abbig"), s_ed["bytes"]
    conns = [Conn(ed.port) for _ in range(3)]
    try:
        for c in conns:
            assert c.exchange(b"") == b""  # connected and served
        s = stats(ed.port)
        # the three, plus the one asking
        assert int(s["curr_connections"]) == 4, s["curr_connections"]
        assert int(s["total_connections"]) >= int(s_ed["total_connections"]) + 4
    finally:
        for c in conns:
            c.close()
    time.sleep(1.2)
    assert int(stats(ed.port)["uptime"]) >= int(s_ed["uptime"]) + 1


def test_lru_eviction_under_memory_limit(servers):
    """A 4 MiB cache fed 12 MB of values: the oldest unread keys are evicted
    (and counted), keys read all along survive, and memory stays bounded."""
    value = b"v" * 1000
    hot = [b"hot%d" % i for i in range(40)]
    for srv in (servers.memcached(memory_mb=4), servers.eddy(memory_mb=4)):
        c = Conn(srv.port)
        try:
            assert c.exchange(b"".join(b"set %s 0 0 1000\r\n%s\r\n" % (k, value) for k in hot)) == (
                b"STORED\r\n" * len(hot)
            )
            for batch in range(120):
                keys = range(batch * 100, batch * 100 + 100)
                c.exchange(b"".join(b"set cold%d 0 0 1000 noreply\r\n%s\r\n" % (i, value) for i in keys))
                got = c.exchange(b"get " + b" ".join(hot) + b"\r\n")
                assert got.count(b"VALUE ") == len(hot), f"{srv.name}: hot keys evicted at batch {batch}"
            s = stats(srv.port)
            assert int(s["evictions"]) > 0, (srv.name, s["evictions"])
            assert int(s["curr_items"]) * 1000 <= 4 * 1024 * 1024, (srv.name, s["curr_items"])
            assert int(s["bytes"]) <= 4 * 1024 * 1024, (srv.name, s["bytes"])
            first = c.exchange(b"get " + b" ".join(b"cold%d" % i for i in range(100)) + b"\r\n")
            assert first == b"END\r\n", f"{srv.name}: the oldest keys survived"
            last = c.exchange(b"get cold11999\r\n")
            assert last.startswith(b"VALUE cold11999 "), srv.name
        finally:
            c.close()


# ---- Real clients: pymemcache ----------------------------------------------


def pymemcache_session(port):
    """What an application does with pymemcache's classic (non-meta) API;
    returns everything the client saw."""
    cl = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, default_noreply=False)
    seen = []
    try:
        seen.append(cl.set("a", b"1"))
        seen.append(cl.set("b", "two", expire=100))
        seen.append(cl.get("a"))
        seen.append(cl.get("zz"))
        seen.append(sorted(cl.get_many(["a", "b", "zz"]).items()))
        seen.append(cl.set_many({"m1": b"x", "m2": b"y"}))
        seen.append(cl.add("a", b"no"))
        seen.append(cl.add("c", b"yes"))
        seen.append(cl.replace("zz", b"no"))
        seen.append(cl.append("c", b"!"))
        seen.append(cl.prepend("c", b"<"))
        seen.append(cl.get("c"))
        value, cas = cl.gets("a")
        seen.append(value)
        seen.append(cl.cas("a", b"2", cas))
        seen.append(cl.cas("a", b"3", cas))  # stale
        seen.append(cl.get("a"))
        seen.append(cl.incr("a", 5))
        seen.append(cl.decr("a", 100))
        seen.append(cl.incr("zz", 1))
        seen.append(cl.touch("b", 200))
        seen.append(cl.touch("zz", 200))
        seen.append(cl.gat("b", 300) if hasattr(cl, "gat") else None)
        seen.append(cl.delete("b"))
        seen.append(cl.delete("b"))
        seen.append(cl.delete_many(["m1", "m2"]))
        seen.append(cl.get_many(["m1", "m2"]))
        # the default for this client is noreply: fire-and-forget stores
        cl.set("q", b"quiet", noreply=True)
        seen.append(cl.get("q"))
        seen.append(cl.set("big", b"z" * 500000))
        seen.append(len(cl.get("big")))
        st = cl.stats()
        seen.append(st[b"curr_items"] if b"curr_items" in st else st.get("curr_items"))
        # each server's own version string; the client must parse it
        seen.append(bool(re.fullmatch(rb"[0-9A-Za-z.\-+_]+", cl.version())))
        seen.append(cl.flush_all())
        seen.append(cl.get("a"))
    finally:
        cl.close()
    return seen


def test_pymemcache_client(pair):
    require_pymemcache()
    mc, ed = pair
    want = pymemcache_session(mc.port)
    got = pymemcache_session(ed.port)
    assert got == want
    assert want[2] == b"1" and want[13] is True and want[14] is False
    assert want[16] == 7  # incr a (value "2") by 5


def test_pymemcache_many_threads(pair):
    """Pooled clients from several threads, each on its own keys (bounded)."""
    require_pymemcache()
    for srv in pair:
        cl = PooledClient(("127.0.0.1", srv.port), max_pool_size=8, connect_timeout=5, timeout=5)
        errors = []

        def work(t):
            try:
                for i in range(200):
                    k = f"t{t}-{i}"
                    cl.set(k, str(i).encode(), noreply=False)
                    assert cl.get(k) == str(i).encode()
                    assert cl.incr(k, 1) == i + 1
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        cl.close()
        assert not errors, (srv.name, errors[:3])
        assert int(stats(srv.port)["curr_items"]) == 1600


def test_pymemcache_over_unix_socket(servers, sock_tmp):
    """The same session over a Unix socket (memcached -s, eddyd unix:PATH)."""
    require_pymemcache()
    mc = servers.memcached_unix(str(sock_tmp / "mc.sock"))
    ed = servers.eddy_unix(str(sock_tmp / "eddy.sock"))
    seen = []
    for srv in (mc, ed):
        cl = Client(srv.path, connect_timeout=5, timeout=5, default_noreply=False)
        try:
            seen.append([
                cl.set("u", b"unix"), cl.get("u"), cl.add("u", b"x"),
                cl.get_many(["u", "v"]), cl.delete("u"), cl.get("u"),
            ])
        finally:
            cl.close()
    assert seen[0] == [True, b"unix", False, {"u": b"unix"}, True, None]
    assert seen[1] == seen[0]


# ---- Real clients: libmemcached's tools ------------------------------------


def tool(*argv, timeout=60):
    r = subprocess.run(list(argv), capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def require_tool(name):
    import shutil

    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: scripts/bootstrap installs libmemcached-tools")
    return path


def test_libmemcached_tools(pair, sock_tmp):
    """memccp, memccat, memcexist, memctouch, memcrm, memcstat, memcping and
    memcflush (Debian names libmemcached's tools memc*), as users run them."""
    for name in ("memccp", "memccat", "memcexist", "memctouch", "memcrm", "memcstat", "memcping", "memcflush"):
        require_tool(name)
    f1 = sock_tmp / "greeting.txt"
    f1.write_bytes(b"hello from a file\n")
    f2 = sock_tmp / "blob.bin"
    f2.write_bytes(bytes(range(256)) * 300)
    results = []
    for srv in pair:
        S = f"--servers=127.0.0.1:{srv.port}"
        seen = []
        seen.append(tool("memcping", S)[0])
        seen.append(tool("memccp", S, str(f1), str(f2))[0])
        rc, out, _ = tool("memccat", S, "greeting.txt")
        seen.append((rc, out))
        r = subprocess.run(["memccat", S, "blob.bin"], capture_output=True, timeout=60)
        seen.append((r.returncode, r.stdout == f2.read_bytes() + b"\n"))  # memccat adds a newline
        seen.append(tool("memcexist", S, "greeting.txt")[0])
        seen.append(tool("memcexist", S, "missing.txt")[0])
        seen.append(tool("memctouch", S, "--expire=100", "greeting.txt")[0])
        seen.append(tool("memcrm", S, "greeting.txt")[0])
        seen.append(tool("memcexist", S, "greeting.txt")[0])
        rc, out, _ = tool("memcstat", S)
        seen.append(rc)
        for field in ("curr_items", "get_hits", "evictions", "uptime", "bytes"):
            assert re.search(rf"^\s*{field}: \d+$", out, re.M), (srv.name, field, out[:2000])
        seen.append(tool("memcflush", S)[0])
        seen.append(tool("memcexist", S, "blob.bin")[0])
        results.append(seen)
    assert results[0][2] == (0, "hello from a file\n\n") and results[0][3] == (0, True)
    assert results[0][4] == 0 and results[0][5] != 0 and results[0][8] != 0
    assert results[1] == results[0]


def test_memccapable_ascii(pair):
    """libmemcached's protocol conformance checker, ASCII protocol."""
    require_tool("memccapable")
    for srv in pair:
        rc, out, err = tool("memccapable", "-h", "127.0.0.1", "-p", str(srv.port), "-a", "-t", "5", timeout=120)
        assert rc == 0 and "All tests passed" in out, (srv.name, out[-3000:], err[-1000:])
