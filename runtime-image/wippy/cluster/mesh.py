"""The internode mesh: TCP between the pods of one app, authenticated with the app's shared key.

Each node dials every peer once and sends to it only on that connection, so the frames one node
sends another arrive in the order they were sent. Frames are MessagePack values (codec.py)
written back to back; everything a node sends in one pass of the event loop goes out in one
write, and the frames of one read are handed on together (`on_frames`), so the engines take
messages in bulk. A peer that reads slower than this node writes holds frames here (at most
MAX_PENDING, later ones are dropped and counted) until its socket drains. The handshake is an HMAC-SHA256 challenge-response in both directions over fresh nonces:
a peer without the key (another app's pods, anyone else) is refused before any frame is read.
A lost connection is reported (`on_link(node, incarnation, "down")`) and dialled again while the
node is a member; an incarnation (one per runtime start) tells a restarted peer from the old one.
A connection can also stall without closing (the peer's process stopped, its network cut): every
node sends a tick on each of its connections every TICK seconds, and a peer heard nothing from for
SILENCE seconds is taken as lost, both ways (as Erlang's net_ticktime does).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from typing import Any, Callable

from . import codec

log = logging.getLogger("wippy.cluster.mesh")

HANDSHAKE_TIMEOUT = 5.0
HELLO_LIMIT = 4096
MAX_PENDING = 1_000_000        # frames held for a peer not connected yet, or not reading
WRITE_HIGH = 4 * 1024 * 1024   # bytes in the socket's buffer past which frames wait for it to drain
BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
TICK = 1.0                     # seconds between ticks on an outgoing connection
# seconds without a frame after which a peer's connection is lost: above what a busy peer's event
# loop may be held (half of a host's slice_timeout, say a 10 s slice for long pure-Lua work)
SILENCE = 15.0
TICK_FRAME = ["k"]
# frame kinds this node reads beyond the first protocol, told to each peer that dials it, so that
# during a rolling update a newer node sends an older one only frames it knows
READS = ("M",)


class HandshakeError(Exception):
    pass


def _mac(key: bytes, *parts: str | bytes) -> bytes:
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(4, "big") + b)
    return h.digest()


async def _read_one(reader: asyncio.StreamReader, unp, timeout: float = HANDSHAKE_TIMEOUT) -> Any:
    while True:
        try:
            return next(unp)
        except StopIteration:
            pass
        data = await asyncio.wait_for(reader.read(HELLO_LIMIT), timeout)
        if not data:
            raise HandshakeError("connection closed during the handshake")
        unp.feed(data)


def _small_unpacker():
    import msgpack
    return msgpack.Unpacker(raw=False, max_buffer_size=HELLO_LIMIT)


class Link:
    """This node's connection to one peer (it only writes on it)."""

    def __init__(self, mesh: "Mesh", node: str, addr: str):
        self.mesh, self.node, self.addr = mesh, node, addr
        self.out: list[bytes] = []
        self.writer: asyncio.StreamWriter | None = None
        self.incarnation: str | None = None
        self.reads: frozenset[str] = frozenset()   # the peer's READS, told at each connection
        self.flush_scheduled = False
        self.draining = False
        self.dropped = 0
        self.task = asyncio.get_running_loop().create_task(self._run())

    def send(self, data: bytes) -> None:
        if len(self.out) >= MAX_PENDING:
            if not self.dropped % 10_000:
                log.warning("mesh: %s is not taking frames (%d held): frame dropped (%d so far)",
                            self.node, len(self.out), self.dropped + 1)
            self.dropped += 1
            return
        self.out.append(data)
        if self.writer is not None and not self.flush_scheduled and not self.draining:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        writer = self.writer
        if writer is None or not self.out or self.draining:
            return
        if writer.transport.get_write_buffer_size() > WRITE_HIGH:
            self.draining = True
            asyncio.get_running_loop().create_task(self._drain(writer))
            return
        data = b"".join(self.out)
        self.out.clear()
        try:
            writer.write(data)
        except Exception:   # the connection broke: _run notices and reconnects
            pass

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.drain()
        except Exception:   # the connection broke: _run notices and reconnects
            pass
        finally:
            self.draining = False
        self._flush()

    async def _run(self) -> None:
        attempt, last = 0, ""
        while True:
            try:
                reader, writer = await self._connect()
            except (OSError, asyncio.TimeoutError, HandshakeError) as e:
                delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                attempt += 1
                why = str(e) or type(e).__name__
                if why != last or attempt % 50 == 0:   # each new reason once, then now and then
                    level = logging.WARNING if isinstance(e, HandshakeError) else logging.INFO
                    log.log(level, "mesh: cannot connect to %s at %s (%s); retrying", self.node, self.addr, why)
                    last = why
                await asyncio.sleep(delay)
                continue
            attempt, last = 0, ""
            self.writer = writer
            log.info("mesh: connected to %s at %s", self.node, self.addr)
            self.mesh.on_link(self.node, self.incarnation, "up")
            self._flush()
            try:
                await reader.read()   # the peer never writes after the handshake: EOF means it is gone
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self.writer = None
                writer.close()
            log.warning("mesh: connection to %s lost; reconnecting", self.node)
            self.mesh.on_link(self.node, self.incarnation, "down")

    async def _connect(self):
        reader, writer, _node, inc, reads = await dial(self.mesh, self.addr, self.node)
        self.incarnation, self.reads = inc, reads
        return reader, writer

    def stall(self) -> None:
        """The peer went silent: end this connection (_run reports it lost and dials again)."""
        if self.writer is not None:
            self.writer.transport.abort()

    def close(self) -> None:
        self.task.cancel()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def dial(mesh: "Mesh", addr: str, expect: str | None):
    """Connect to the node at addr and pass the handshake both ways: (reader, writer, its node, its
    incarnation, the frame kinds it reads beyond the first protocol). `expect`: the node that must answer there (None: whichever node it is, for a seed)."""
    host, _, port = addr.rpartition(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                            HANDSHAKE_TIMEOUT)
    try:
        cnonce = os.urandom(16)
        writer.write(codec.pack({"app": mesh.app, "node": mesh.node_id, "inc": mesh.incarnation,
                                 "addr": mesh.addr, "nonce": cnonce}))
        unp = _small_unpacker()
        challenge = await _read_one(reader, unp)
        if not isinstance(challenge, dict) or "error" in challenge:
            why = challenge.get("error") if isinstance(challenge, dict) else "?"
            raise HandshakeError(f"refused by {expect or addr}: {why}")
        snode, sinc, snonce = challenge.get("node"), challenge.get("inc"), challenge.get("nonce")
        if not (isinstance(snode, str) and isinstance(sinc, str) and isinstance(snonce, bytes)):
            raise HandshakeError("malformed challenge")
        want = _mac(mesh.key, "server", mesh.app, cnonce, snonce, snode, sinc, mesh.node_id)
        if not hmac.compare_digest(want, challenge.get("mac") or b""):
            raise HandshakeError(f"{addr} does not hold this app's mesh key")
        if expect is not None and snode != expect:
            raise HandshakeError(f"{addr} is {snode}, not {expect}")
        writer.write(codec.pack({"mac": _mac(mesh.key, "client", mesh.app, snonce, cnonce, mesh.node_id,
                                             mesh.incarnation)}))
        verdict = await _read_one(reader, unp)
        if verdict != {"ok": True}:
            raise HandshakeError(f"refused by {snode}: {verdict}")
        reads = challenge.get("reads")
        return reader, writer, snode, sinc, frozenset(r for r in reads if isinstance(r, str)) \
            if isinstance(reads, list) else frozenset()
    except BaseException:
        writer.close()
        raise


class Mesh:
    def __init__(self, node_id: str, incarnation: str, key: bytes, app: str,
                 on_frames: Callable[[str, list, set[int] | None], None], on_link: Callable[[str, str | None, str], None],
                 on_hello: Callable[[str, str, str], None] | None = None):
        if not key:
            raise ValueError("the mesh needs the app's key")
        self.node_id, self.incarnation, self.key, self.app = node_id, incarnation, key, app
        self.on_frames, self.on_link, self.on_hello = on_frames, on_link, on_hello
        # called before each frame is sent: messages an engine queued go out first (cluster.py)
        self.before_send: Callable[[], None] | None = None
        self.links: dict[str, Link] = {}
        self.addr = ""
        self._packer = codec.packer()
        self._server: asyncio.base_events.Server | None = None
        self._inbound: dict[asyncio.StreamWriter, list] = {}   # -> [node, loop time of its last read]
        self._ticker: asyncio.Task | None = None
        self.refused = 0
        self.stalls = 0
        self.reads = READS
        self._serving = asyncio.Event()

    def serve(self) -> None:
        """Read what peers send from now on (until then it waits for this node: see start)."""
        self._serving.set()

    async def start(self, host: str, port: int, advertise: str | None = None, serving: bool = True) -> int:
        """Listen; with ``serving`` false, peers connect but what they send waits until serve(),
        so a node still loading its app never takes a spawn or a message it cannot serve yet."""
        if serving:
            self._serving.set()
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        self.addr = f"{advertise or host}:{bound}"
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return bound

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        prev = loop.time()
        while True:
            await asyncio.sleep(TICK)
            for link in self.links.values():
                if link.writer is not None:
                    link.send(self._packer.pack(TICK_FRAME))
            now = loop.time()
            if now - prev > TICK + SILENCE / 2:   # this node's loop was held: it could not read either
                for seen in self._inbound.values():
                    seen[1] = now
            prev = now
            for writer, (node, last) in list(self._inbound.items()):
                if now - last > SILENCE:
                    self.stalls += 1
                    log.warning("mesh: nothing heard from %s for %.1fs: its connections are taken as lost",
                                node, now - last)
                    writer.transport.abort()
                    self._inbound.pop(writer, None)
                    silent = self.links.get(node)
                    if silent is not None:
                        silent.stall()

    # ------------------------------------------------------------------ outbound
    def peer(self, node: str, addr: str) -> None:
        """Keep a connection to `node` at `addr` (host:port)."""
        if node == self.node_id:
            return
        link = self.links.get(node)
        if link is not None and link.addr == addr:
            return
        if link is not None:
            link.close()
        self.links[node] = Link(self, node, addr)

    async def announce(self, addr: str) -> str:
        """Introduce this node to the node at addr (a seed, whose name is not known yet): after the
        handshake it knows this node and dials it back. Its node name."""
        _reader, writer, node, _inc, _reads = await dial(self, addr, None)
        writer.close()
        return node

    def drop(self, node: str) -> None:
        link = self.links.pop(node, None)
        if link is not None:
            was_up = link.writer is not None
            link.close()
            if was_up:
                self.on_link(node, link.incarnation, "down")

    def send(self, node: str, frame: Any) -> bool:
        if self.before_send is not None:
            self.before_send()
        link = self.links.get(node)
        if link is None:
            return False
        link.send(self._packer.pack(frame))
        return True

    def send_queued(self, node: str, frame: Any) -> None:
        """send() for what before_send itself hands on."""
        link = self.links.get(node)
        if link is not None:
            link.send(self._packer.pack(frame))

    def peer_reads(self, node: str, kind: str) -> bool:
        """Whether the peer told, when this node last connected to it, that it reads `kind` frames
        (false while never connected: what is held for it must suit any version)."""
        link = self.links.get(node)
        return link is not None and kind in link.reads

    def connected(self, node: str) -> bool:
        link = self.links.get(node)
        return link is not None and link.writer is not None

    # ------------------------------------------------------------------ inbound
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            node = await self._handshake(reader, writer)
        except (HandshakeError, asyncio.TimeoutError, OSError, ValueError, Exception) as e:
            self.refused += 1
            log.warning("mesh: refused a connection from %s: %s", peer, e)
            writer.close()
            return
        await self._serving.wait()
        loop = asyncio.get_running_loop()
        seen = self._inbound[writer] = [node, loop.time()]
        ext = codec.ExtCount()
        unp = codec.unpacker(ext)
        try:
            while True:
                data = await reader.read(1 << 18)
                if not data:
                    break
                seen[1] = loop.time()
                unp.feed(data)
                frames: list = []
                with_ext: set[int] | None = None     # frames holding errors: not plain data
                for frame in unp:
                    if ext.n:
                        ext.n = 0
                        with_ext = with_ext or set()
                        with_ext.add(len(frames))
                    frames.append(frame)
                if frames:
                    self.on_frames(node, frames, with_ext)
        except (OSError, ValueError) as e:   # ValueError: a frame over MAX_FRAME
            log.warning("mesh: inbound connection from %s ended: %s", node, e)
        finally:
            self._inbound.pop(writer, None)
            writer.close()

    async def _handshake(self, reader, writer) -> str:
        unp = _small_unpacker()
        hello = await _read_one(reader, unp)
        if not isinstance(hello, dict):
            raise HandshakeError("malformed hello")
        node, inc, cnonce, addr = hello.get("node"), hello.get("inc"), hello.get("nonce"), hello.get("addr")
        if hello.get("app") != self.app:
            writer.write(codec.pack({"error": "wrong app"}))
            raise HandshakeError(f"{node!r} belongs to app {hello.get('app')!r}, not {self.app!r}")
        if not (isinstance(node, str) and isinstance(inc, str) and isinstance(cnonce, bytes) and len(cnonce) == 16):
            raise HandshakeError("malformed hello")
        snonce = os.urandom(16)
        writer.write(codec.pack({"node": self.node_id, "inc": self.incarnation, "nonce": snonce,
                                 "reads": list(self.reads),
                                 "mac": _mac(self.key, "server", self.app, cnonce, snonce, self.node_id,
                                             self.incarnation, node)}))
        answer = await _read_one(reader, unp)
        want = _mac(self.key, "client", self.app, snonce, cnonce, node, inc)
        if not isinstance(answer, dict) or not hmac.compare_digest(want, answer.get("mac") or b""):
            writer.write(codec.pack({"error": "bad key"}))
            raise HandshakeError(f"{node!r} does not hold this app's mesh key")
        writer.write(codec.pack({"ok": True}))
        if self.on_hello is not None and isinstance(addr, str):
            self.on_hello(node, inc, addr)
        return node

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for link in self.links.values():
            link.close()
        self.links.clear()
        for w in list(self._inbound):
            w.close()
        if self._server is not None:
            self._server.close()
