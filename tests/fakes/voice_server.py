# The waiting helper takes a `timeout` argument on purpose, like the other fakes'.
# ruff: noqa: ASYNC109
"""A loopback fake of a Discord voice server: the voice websocket (v8, over TLS) and UDP.

The real `discord.VoiceClient` connects to it as to Discord. Point the fake Discord's
``voice_endpoint`` at :attr:`FakeVoiceServer.endpoint`; discord.py builds
``wss://{endpoint}/?v=8`` from it, so the websocket speaks TLS with a certificate for
127.0.0.1 and localhost, signed by a CA the fake makes (:attr:`FakeVoiceServer.ca_pem`: the
client must trust it, see :meth:`FakeVoiceServer.client_ssl_context`).

The handshake is Discord's: HELLO (op 8), IDENTIFY (op 0), READY (op 2: ssrc, UDP address,
modes), UDP IP discovery (74-byte request and response), SELECT_PROTOCOL (op 1),
SESSION_DESCRIPTION (op 4: mode, secret key, DAVE protocol version), then SPEAKING (op 5) and
HEARTBEAT (op 3) / HEARTBEAT_ACK (op 6). The session is offered without DAVE (protocol version
0): only transport encryption, which :func:`decrypt_rtp` undoes. Every RTP packet the client
sends over UDP is kept in :attr:`FakeVoiceServer.packets`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import ssl
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.secret
from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fakes.loopback import serve_on_loopback

JSON = dict[str, Any]

# Voice gateway opcodes (v8)
OP_IDENTIFY = 0
OP_SELECT_PROTOCOL = 1
OP_READY = 2
OP_HEARTBEAT = 3
OP_SESSION_DESCRIPTION = 4
OP_SPEAKING = 5
OP_HEARTBEAT_ACK = 6
OP_HELLO = 8

HEARTBEAT_INTERVAL_MS = 41250  # Discord's; discord.py beats at most every 5 s anyway
MODE = "aead_xchacha20_poly1305_rtpsize"
RTP_PAYLOAD_TYPE_OPUS = 0x78
IP_DISCOVERY_SIZE = 74


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet as received, its header fields parsed; the payload still encrypted."""

    sequence: int
    timestamp: int
    ssrc: int
    data: bytes


def decrypt_rtp(packet: bytes, secret_key: bytes) -> bytes:
    """The Opus payload of an ``aead_xchacha20_poly1305_rtpsize`` packet.

    As discord.py's ``VoiceClient._encrypt_aead_xchacha20_poly1305_rtpsize`` builds it: the
    RTP header (with its CSRCs and the 4-byte extension header, if any) is the additional
    authenticated data; the 24-byte nonce is a 32-bit big-endian counter, appended to the
    packet, padded with zeros; the extension's body, if any, is encrypted with the payload.
    """
    csrc_count = packet[0] & 0x0F
    header_size = 12 + 4 * csrc_count
    extension_words = 0
    if packet[0] & 0x10:
        extension_words = struct.unpack_from(">H", packet, header_size + 2)[0]
        header_size += 4
    header, ciphertext, counter = packet[:header_size], packet[header_size:-4], packet[-4:]
    nonce = counter + bytes(20)
    plain: bytes = nacl.secret.Aead(secret_key).decrypt(ciphertext, header, nonce)
    return plain[4 * extension_words :]


def _certificates() -> tuple[bytes, bytes, bytes]:
    """A CA, and a server certificate for 127.0.0.1 and localhost it signs (PEM), with its key."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake Discord voice CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def _server_context(chain_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:  # load_cert_chain only reads files
        path = Path(folder, "server.pem")
        path.write_bytes(chain_pem)
        context.load_cert_chain(path)
    return context


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: FakeVoiceServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._server._datagram(data, addr)


class FakeVoiceServer:
    def __init__(
        self, *, dave_protocol_version: int = 0, heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    ) -> None:
        self.dave_protocol_version = dave_protocol_version
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.secret_key = os.urandom(32)
        self.ssrc = struct.unpack(">I", os.urandom(4))[0] or 1
        self.ca_pem, self._cert_pem, self._key_pem = _certificates()
        self.identifies: list[JSON] = []
        self.selected_protocols: list[JSON] = []
        self.speaking: list[JSON] = []
        # Each heartbeat's payload, and the seq of the last message sent before it arrived.
        self.heartbeats: list[tuple[JSON, int]] = []
        self.session_description_seq = 0
        self.discoveries: list[tuple[str, int]] = []  # who asked for its address, from where
        self.packets: list[RtpPacket] = []
        self.open_sockets = 0
        self.close_codes: list[int | None] = []  # one per closed voice websocket
        self._sockets: set[web.WebSocketResponse] = set()
        self._event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self.port = 0
        self.udp_port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=("127.0.0.1", 0)
        )
        self._udp = transport
        self.udp_port = int(transport.get_extra_info("sockname")[1])

        server_ssl = _server_context(self._cert_pem + self._key_pem)
        app = web.Application()
        app.router.add_get("/", self._voice_ws)
        self._runner, self.port = await serve_on_loopback(app, ssl_context=server_ssl)

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def __aenter__(self) -> FakeVoiceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def endpoint(self) -> str:
        """What VOICE_SERVER_UPDATE's ``endpoint`` says: host and port, no scheme."""
        return f"127.0.0.1:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context (as aiohttp's default one) that trusts the fake's CA."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        context.set_alpn_protocols(["http/1.1"])
        return context

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked on every change the fake records."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._event
                    if predicate():
                        return
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None

    def opus_frames(self) -> list[bytes]:
        """The Opus frames received so far, decrypted, in sequence order."""
        ordered = sorted(self.packets, key=lambda p: p.sequence)
        return [decrypt_rtp(p.data, self.secret_key) for p in ordered]

    # ------------------------------------------------------------------ UDP

    def _datagram(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if len(data) == IP_DISCOVERY_SIZE and data[:2] == b"\x00\x01":
            # IP discovery: type 2 (response), length 70, ssrc, the address seen, the port seen.
            ssrc = struct.unpack_from(">I", data, 4)[0]
            reply = struct.pack(">HHI64sH", 2, 70, ssrc, host.encode("ascii"), port)
            assert self._udp is not None
            self._udp.sendto(reply, addr)
            self.discoveries.append((host, port))
        elif len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == RTP_PAYLOAD_TYPE_OPUS:
            sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
            self.packets.append(RtpPacket(sequence, timestamp, ssrc, data))
        self._notify()

    # ------------------------------------------------------------------ websocket

    async def _voice_ws(self, request: web.Request) -> web.WebSocketResponse:
        if request.query.get("v") != "8":
            raise web.HTTPBadRequest(text="voice gateway v8 only")
        ws = web.WebSocketResponse(max_msg_size=0, heartbeat=None)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.open_sockets += 1
        self._notify()
        seq = 0

        async def send(op: int, d: JSON) -> None:
            nonlocal seq
            seq += 1
            await ws.send_str(json.dumps({"op": op, "d": d, "seq": seq}))

        try:
            await send(OP_HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, d = frame.get("op"), frame.get("d")
                if op == OP_IDENTIFY:
                    self.identifies.append(d)
                    await send(
                        OP_READY,
                        {
                            "ssrc": self.ssrc,
                            "ip": "127.0.0.1",
                            "port": self.udp_port,
                            "modes": [MODE, "aead_aes256_gcm_rtpsize"],
                            "heartbeat_interval": 1,  # not used: HELLO's is
                        },
                    )
                elif op == OP_SELECT_PROTOCOL:
                    self.selected_protocols.append(d)
                    self.session_description_seq = seq + 1
                    await send(
                        OP_SESSION_DESCRIPTION,
                        {
                            "audio_codec": "opus",
                            "video_codec": None,
                            "media_session_id": os.urandom(16).hex(),
                            "mode": d["data"]["mode"],
                            "secret_key": list(self.secret_key),
                            "dave_protocol_version": self.dave_protocol_version,
                        },
                    )
                elif op == OP_HEARTBEAT:
                    self.heartbeats.append((d, seq))
                    await send(OP_HEARTBEAT_ACK, {"t": d["t"]})
                elif op == OP_SPEAKING:
                    self.speaking.append(d)
                self._notify()
        finally:
            self._sockets.discard(ws)
            self.open_sockets -= 1
            self.close_codes.append(ws.close_code)
            self._notify()
        return ws
