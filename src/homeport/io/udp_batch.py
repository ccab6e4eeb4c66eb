"""Batched UDP receive and send with Linux ``recvmmsg(2)``/``sendmmsg(2)`` via ctypes.

Python's ``recvfrom``/``sendto`` cost a system call and several object
allocations per datagram; under load that is most of a DNS query's time. Here
one ``recvmmsg`` reads up to :data:`BATCH` queries into fixed buffers, and one
``sendmmsg`` writes all their answers, each addressed to the sockaddr the
query came from (the kernel's own bytes, never parsed). Measured in
bench/dns_qps.py; :class:`BatchSocket` is ``None``-safe: :func:`open_batch`
returns None where the calls are not available and the caller falls back.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

# Datagrams read per system call; dnsperf-style load keeps ~100 in flight.
BATCH = 64
# Largest query read; larger datagrams are cut (and then answered FORMERR).
RECV_SLOT = 4096
# Largest UDP answer: EDNS_PAYLOAD (1232) is the cap; room to spare.
SEND_SLOT = 2048
# Bound on the packet cache (~250 bytes an entry, so ~50 MB at most); when
# full it starts over, so a flood of distinct names cannot grow it.
MAX_CACHED = 200_000
_ADDR_SLOT = 128  # sizeof(struct sockaddr_storage)
_MSG_WAITFORONE = 0x10000  # linux/socket.h
_MMSGHDR = 64  # sizeof(struct mmsghdr) on LP64
_IOVEC = 16


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or ctypes.sizeof(_MMsgHdr) != _MMSGHDR:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        recv, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
    send.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    recv.restype = send.restype = ctypes.c_int
    return libc


class BatchSocket:
    """recvmmsg/sendmmsg over one bound UDP socket (used by one thread only)."""

    def __init__(self, sock: socket.socket, libc: ctypes.CDLL) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._recvmmsg = libc.recvmmsg
        self._sendmmsg = libc.sendmmsg
        self._rbuf = bytearray(BATCH * RECV_SLOT)
        self._sbuf = bytearray(BATCH * SEND_SLOT)
        self._names = bytearray(BATCH * _ADDR_SLOT)
        self._rmsgs = (_MMsgHdr * BATCH)()
        self._smsgs = (_MMsgHdr * BATCH)()
        self._riov = (_IoVec * BATCH)()
        self._siov = (_IoVec * BATCH)()
        rbase = ctypes.addressof((ctypes.c_char * len(self._rbuf)).from_buffer(self._rbuf))
        sbase = ctypes.addressof((ctypes.c_char * len(self._sbuf)).from_buffer(self._sbuf))
        self._nbase = ctypes.addressof((ctypes.c_char * len(self._names)).from_buffer(self._names))
        for i in range(BATCH):
            self._riov[i].iov_base = rbase + i * RECV_SLOT
            self._riov[i].iov_len = RECV_SLOT
            hdr = self._rmsgs[i].msg_hdr
            hdr.msg_name = self._nbase + i * _ADDR_SLOT
            hdr.msg_namelen = _ADDR_SLOT
            hdr.msg_iov = ctypes.addressof(self._riov) + i * _IOVEC
            hdr.msg_iovlen = 1
            self._siov[i].iov_base = sbase + i * SEND_SLOT
            shdr = self._smsgs[i].msg_hdr
            shdr.msg_iov = ctypes.addressof(self._siov) + i * _IOVEC
            shdr.msg_iovlen = 1
        # Integer views over the C arrays: field access without ctypes objects.
        self._r32 = memoryview(self._rmsgs).cast("B").cast("I")
        self._s64 = memoryview(self._smsgs).cast("B").cast("Q")
        self._s32 = memoryview(self._smsgs).cast("B").cast("I")
        self._siov64 = memoryview(self._siov).cast("B").cast("Q")
        self._rview = memoryview(self._rbuf)
        self._sview = memoryview(self._sbuf)
        self._rmsgs_addr = ctypes.addressof(self._rmsgs)
        self._smsgs_addr = ctypes.addressof(self._smsgs)

    def serve(
        self,
        respond: Callable[[bytes], bytes | None],
        admit: Callable[[bytes, bytes, bytes], bytes | None] | None,
        counts: list[int],
        stopped: Callable[[], bool],
        packet_cache: Callable[[], dict[bytes, bytes]],
        max_cached: int = MAX_CACHED,
    ) -> None:
        """Receive, answer, send; until ``stopped()`` (checked once per batch).

        ``respond(query)`` gives the answer (None = drop); ``admit(query[2:], answer,
        sockaddr)``, if given, may drop or replace it (cookies, rate limiting) knowing
        the sender's raw ``struct sockaddr``; ``counts[rcode]`` counts what was sent, and
        ``counts[16]`` what was dropped. ``packet_cache()`` is the current dict of
        query-without-ID -> response-without-ID; its owner replaces it (never
        clears it) whenever answers change, so an entry filled from old answers
        lands in a dict nobody reads any more.
        """
        fd, recvmmsg, sendmmsg = self._fd, self._recvmmsg, self._sendmmsg
        r32, s32, s64, siov64 = self._r32, self._s32, self._s64, self._siov64
        rview, sview, names, nbase = self._rview, self._sview, self._names, self._nbase
        rmsgs, smsgs = self._rmsgs_addr, self._smsgs_addr
        while not stopped():
            got = recvmmsg(fd, rmsgs, BATCH, _MSG_WAITFORONE, None)
            if got < 0:
                err = ctypes.get_errno()
                if err in (errno.EINTR, errno.EAGAIN):
                    continue
                raise OSError(err, os.strerror(err))
            out = 0
            cache = packet_cache()
            for i in range(got):
                base = i * 16  # a 64-byte mmsghdr is 16 uint32s
                start = i * RECV_SLOT
                namelen = r32[base + 2]
                r32[base + 2] = _ADDR_SLOT  # value-result: reset for the next call
                # The answer depends on the query's bytes after the ID only, so a
                # repeated query is answered from the packet cache.
                key = bytes(rview[start + 2 : start + r32[base + 14]])
                tail = cache.get(key)
                try:
                    if tail is None:
                        resp = respond(bytes(rview[start : start + 2]) + key)
                        if resp is None:
                            counts[16] += 1
                            continue
                        tail = resp[2:]
                        # A question with upper-case letters is most likely 0x20
                        # randomised by a resolver and never repeats byte for byte:
                        # caching it would only churn the cache (a cheap test, misses only).
                        if max_cached and key == key.lower():
                            if len(cache) >= max_cached:
                                cache.clear()  # a flood of distinct queries: start over
                            cache[key] = tail
                    if admit is not None:
                        sockaddr = bytes(names[i * _ADDR_SLOT : i * _ADDR_SLOT + namelen])
                        resp = admit(key, bytes(rview[start : start + 2]) + tail, sockaddr)
                        if resp is None:
                            counts[16] += 1
                            continue
                        tail = resp[2:]
                except Exception:
                    log.exception("DNS query failed")
                    counts[16] += 1
                    continue
                n = len(tail) + 2
                if n > SEND_SLOT:  # cannot happen: UDP answers are capped far below
                    counts[16] += 1
                    continue
                counts[tail[1] & 15] += 1
                o = out * SEND_SLOT
                sview[o : o + 2] = rview[start : start + 2]
                sview[o + 2 : o + n] = tail
                siov64[out * 2 + 1] = n
                s64[out * 8] = nbase + i * _ADDR_SLOT  # msg_name: the query's sockaddr
                s32[out * 16 + 2] = namelen
                out += 1
            sent = 0
            while sent < out:
                done = sendmmsg(fd, smsgs + sent * _MMSGHDR, out - sent, 0)
                if done < 0:
                    if ctypes.get_errno() == errno.EINTR:
                        continue
                    done = 1  # this datagram cannot be sent (unreachable ...): skip it
                sent += done


def open_batch(sock: socket.socket) -> BatchSocket | None:
    """A batching wrapper for ``sock``, or None where recvmmsg/sendmmsg are unavailable."""
    libc = _libc()
    return BatchSocket(sock, libc) if libc is not None else None
