"""The gateway: websocket sessions (HELLO, IDENTIFY, READY and GUILD_CREATE, heartbeats,
RESUME with replay, INVALID_SESSION, RECONNECT) and the dispatch of events to them.

Sessions are kept by id, live or waiting to RESUME; every event goes through :meth:`dispatch`,
which picks the sessions that receive it (:meth:`Gateway._recipients`) and applies intents.

Shards, as Discord has them: an IDENTIFY with ``shard: [id, count]`` gets READY and GUILD_CREATE
for the guilds on that shard only (``(guild_id >> 22) % count == id``), and a guild's events go
to the sessions of its shard (a session without ``shard`` has them all); events without a guild
(direct messages) go to shard 0. Several sessions may be live at once, on one shard too (Discord
accepts that, and each then gets every event of its guilds). ``GET /gateway/bot`` reports
``recommended_shards`` and ``session_start_limit``, which tests may change.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.fakes.discord import payloads
from tests.fakes.discord.model import Model
from tests.fakes.discord.protocol import (
    API_PREFIX,
    HEARTBEAT_INTERVAL_MS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    JSON,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_PRESENCE,
    OP_RECONNECT,
    OP_REQUEST_MEMBERS,
    OP_RESUME,
    OP_VOICE_STATE,
    Address,
    json_response,
)
from tests.fakes.discord.quirks import Quirks
from tests.fakes.discord.waits import Notifier


@dataclass
class Session:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    history: list[JSON] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    ready: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def visible_to(session: Session, event: str, data: JSON, bot_id: int) -> JSON | None:
    """Apply intents like Discord does: filter message events, strip content."""
    if not event.startswith("MESSAGE_"):
        return data
    in_guild = "guild_id" in data
    needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
    if not session.intents & needed:
        return None
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not (
        session.intents & INTENT_MESSAGE_CONTENT
    ):
        author_id = data.get("author", {}).get("id")
        mentioned = any(u.get("id") == str(bot_id) for u in data.get("mentions", []))
        if in_guild and not mentioned and author_id != str(bot_id):
            data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
    return data


def on_shard(shard: list[int] | None, guild_id: int | None) -> bool:
    """Whether a session IDENTIFYed with `shard` gets the events of `guild_id` (None: an
    event outside any guild, which Discord sends to shard 0)."""
    if shard is None:
        return True
    shard_id, count = int(shard[0]), max(int(shard[1]), 1)
    if guild_id is None:
        return shard_id == 0
    return (guild_id >> 22) % count == shard_id


def _shard_id(shard: list[int] | None) -> int | None:
    return None if shard is None else int(shard[0])


def _guild_of_event(data: JSON) -> int | None:
    guild = data.get("guild_id") if isinstance(data, dict) else None
    return int(guild) if guild is not None else None


async def _ignore(d: JSON) -> None:
    return None


class Gateway:
    def __init__(self, model: Model, notifier: Notifier, address: Address, quirks: Quirks) -> None:
        self._model = model
        self._quirks = quirks
        self._notifier = notifier
        self._address = address
        self.sessions: dict[str, Session] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        # Answers a gateway op 4 (the bot joining, moving or leaving voice).
        self.on_voice_state: Callable[[JSON], Awaitable[None]] = _ignore
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS  # what HELLO asks of the client
        self.refusing = False  # an outage: new websockets are refused with a 503
        self.refused_shards: set[int] = set()  # an outage of these shards only
        self.stuck_shards: set[int] = set()  # these shards' RESUMEs go unanswered
        self._unanswered: dict[web.WebSocketResponse, Session] = {}  # RESUMEs left hanging
        self._dropped: set[web.WebSocketResponse] = set()  # closed by an outage, not the bot

        # Recorded traffic
        self.presences: list[JSON] = []
        self.voice_state_requests: list[JSON] = []
        self.member_requests: list[JSON] = []
        self.identify_payloads: list[JSON] = []
        self.identify_count = 0
        self.resume_count = 0
        self.gateway_close_codes: list[int | None] = []
        # What GET /gateway/bot reports.
        self.recommended_shards = 1
        self.session_start_limit: JSON = {
            "total": 1000,
            "remaining": 999,
            "reset_after": 14400000,
            "max_concurrency": 1,
        }

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/gateway", self._serve)
        router.add_get(API_PREFIX + "/gateway", self._get_gateway)
        router.add_get(API_PREFIX + "/gateway/bot", self._get_gateway_bot)

    def reset(self) -> None:
        for recording in (
            self.presences,
            self.voice_state_requests,
            self.member_requests,
            self.identify_payloads,
            self.gateway_close_codes,
        ):
            recording.clear()

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake shutting down")

    async def go_down(self) -> None:
        """An outage: live websockets close (1011, sessions kept for a RESUME) and new ones
        are refused."""
        self.refusing = True
        for ws in list(self._sockets):
            self._dropped.add(ws)
            await ws.close(code=1011, message=b"fake outage")

    def come_back(self) -> None:
        self.refusing = False

    async def shard_down(self, shard_id: int) -> None:
        """An outage of one shard: its websockets close (1011, sessions kept) and its
        IDENTIFY or RESUME is answered by closing again, until `shard_up`."""
        self.refused_shards.add(shard_id)
        for session in list(self.sessions.values()):
            if self._refused(session.shard) and session.ws is not None:
                self._dropped.add(session.ws)
                await session.ws.close(code=1011, message=b"fake shard outage")

    async def shard_stuck(self, shard_id: int) -> None:
        """One shard's sessions half broken: its websockets close (1011, sessions kept), and a
        RESUME of it is taken but never answered (no RESUMED, no replay, no events; heartbeats
        still acknowledged, so the client sees a live socket), until `shard_up`. A clean close
        (1000) of such a socket ends its session, as Discord does; an IDENTIFY is answered."""
        self.stuck_shards.add(shard_id)
        for session in list(self.sessions.values()):
            if _shard_id(session.shard) == shard_id and session.ws is not None:
                self._dropped.add(session.ws)
                await session.ws.close(code=1011, message=b"fake shard stuck")

    def shard_up(self, shard_id: int) -> None:
        self.refused_shards.discard(shard_id)
        self.stuck_shards.discard(shard_id)

    def _refused(self, shard: list[int] | None) -> bool:
        return shard is not None and int(shard[0]) in self.refused_shards

    @property
    def connected(self) -> bool:
        return any(s.ready and s.ws is not None for s in self.sessions.values())

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.ws is not None]

    def ready_shards(self) -> list[tuple[int, int]]:
        """`(shard_id, count)` of every live, ready sharded session (once per session)."""
        return [
            (int(s.shard[0]), int(s.shard[1]))
            for s in self.sessions.values()
            if s.ready and s.ws is not None and s.shard is not None
        ]

    def ready_session_ids(self, shard_id: int) -> list[str]:
        """The ids of the live, ready sessions of one shard."""
        return [
            s.session_id
            for s in self.sessions.values()
            if s.ready and s.ws is not None and _shard_id(s.shard) == shard_id
        ]

    # ------------------------------------------------------------------ sending

    def _recipients(self, event: str, data: JSON) -> list[Session]:
        """Who gets an event: every session of its guild's shard, live or waiting to RESUME,
        like Discord does."""
        guild_id = _guild_of_event(data)
        return [s for s in self.sessions.values() if on_shard(s.shard, guild_id)]

    async def dispatch_for_guild(self, event: str, data: JSON, guild_id: int) -> None:
        """Send a guild's own event (GUILD_CREATE, GUILD_DELETE: its id is `id`, not
        `guild_id`) to the sessions of its shard."""
        for session in list(self.sessions.values()):
            if on_shard(session.shard, guild_id):
                await self._dispatch_to(session, event, data)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send an event (op 0) to its sessions; each keeps it for a RESUME replay."""
        for session in self._recipients(event, data):
            await self._dispatch_to(session, event, data)

    async def _dispatch_to(self, session: Session, event: str, data: JSON) -> None:
        visible = visible_to(session, event, data, self._model.bot_user.id)
        if visible is None:
            return
        session.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": visible}
        session.history.append(payload)
        await self._send(session, payload)

    async def _send(self, session: Session, payload: JSON) -> bool:
        ws = session.ws
        if ws is None or ws.closed:
            return False
        try:
            async with session.lock:
                await ws.send_str(json.dumps(payload))
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def send_reconnect(self) -> None:
        for session in self.live_sessions():
            await self._send(session, {"op": OP_RECONNECT, "d": None})

    async def send_invalid_session(self, resumable: bool) -> None:
        for session in self.live_sessions():
            if not resumable:
                self.sessions.pop(session.session_id, None)
            session.ready = False
            await self._send(session, {"op": OP_INVALID_SESSION, "d": resumable})

    # ------------------------------------------------------------------ REST

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self._address.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self._address.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": dict(self.session_start_limit),
            }
        )

    # ------------------------------------------------------------------ the websocket

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            return web.Response(status=503, text="gateway down")
        ws = web.WebSocketResponse(max_msg_size=0, heartbeat=None)
        await ws.prepare(request)
        self._sockets.add(ws)
        send_lock = asyncio.Lock()
        mine: Session | None = None

        async def send(payload: JSON) -> None:
            async with send_lock:
                await ws.send_str(json.dumps(payload))

        try:
            await send({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                d = frame.get("d")
                if op == OP_HEARTBEAT:
                    await send({"op": OP_HEARTBEAT_ACK})
                elif op == OP_IDENTIFY:
                    self.identify_payloads.append(d)
                    if d.get("token") != self._model.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    if self._refused(d.get("shard")):
                        self._dropped.add(ws)
                        await ws.close(code=1011, message=b"fake shard outage")
                        break
                    mine = await self._identify(ws, d, send_lock)
                elif op == OP_RESUME:
                    if d.get("token") != self._model.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    held = self.sessions.get(str(d.get("session_id")))
                    if held is not None and self._refused(held.shard):
                        self._dropped.add(ws)
                        await ws.close(code=1011, message=b"fake shard outage")
                        break
                    if held is not None and _shard_id(held.shard) in self.stuck_shards:
                        self._unanswered[ws] = held
                        continue
                    mine = await self._resume(ws, d, send_lock)
                elif op == OP_PRESENCE:
                    self.presences.append(d)
                    self._notifier.notify()
                    if mine is not None and self._quirks.presence_echo_without_status:
                        echo = payloads.presence_echo_without_status(self._model, d)
                        await self._dispatch_to(mine, "PRESENCE_UPDATE", echo)
                    if self._quirks.close_after_presence is not None:
                        if mine is not None:
                            self.sessions.pop(mine.session_id, None)
                        await ws.close(code=self._quirks.close_after_presence)
                        break
                elif op == OP_VOICE_STATE:
                    self.voice_state_requests.append(d)
                    self._notifier.notify()
                    await self.on_voice_state(d)
                elif op == OP_REQUEST_MEMBERS:
                    self.member_requests.append(d)
                    if mine is not None:
                        chunk = payloads.members_chunk(self._model, d)
                        await self._dispatch_to(mine, "GUILD_MEMBERS_CHUNK", chunk)
                else:
                    await ws.close(code=4001, message=b"Unknown opcode.")
                    break
        finally:
            self._sockets.discard(ws)
            outage = ws in self._dropped
            self._dropped.discard(ws)
            self.gateway_close_codes.append(ws.close_code)
            hanging = self._unanswered.pop(ws, None)
            if hanging is not None and ws.close_code in (1000, 1001) and not outage:
                self.sessions.pop(hanging.session_id, None)  # a clean close ends it
            if mine is not None and mine.ws is ws:
                mine.ws = None
                mine.ready = False
                if ws.close_code in (1000, 1001) and not outage:
                    # A clean close ends the session (discord.py closes with 1000 on shutdown
                    # and with 4000 when it intends to RESUME).
                    self.sessions.pop(mine.session_id, None)
            self._notifier.notify()
        return ws

    async def _identify(
        self, ws: web.WebSocketResponse, d: JSON, send_lock: asyncio.Lock
    ) -> Session:
        self.identify_count += 1
        session = Session(
            session_id=uuid.uuid4().hex,
            intents=int(d.get("intents", 0)),
            shard=d.get("shard"),
            lock=send_lock,
        )
        self.sessions[session.session_id] = session
        session.ws = ws
        guild_ids = [g for g in self._model.guild_ids() if on_shard(session.shard, g)]
        ready = payloads.ready_payload(
            self._model,
            session_id=session.session_id,
            shard=session.shard,
            resume_gateway_url=self._address.gateway_url,
            guild_ids=guild_ids,
        )
        if self._quirks.ready_without_shard:
            ready.pop("shard", None)
        await self._dispatch_to(session, "READY", ready)
        for guild_id in guild_ids:
            guild = payloads.guild_create_for(self._model, guild_id)
            await self._dispatch_to(session, "GUILD_CREATE", guild)
        session.ready = True
        self._notifier.notify()
        return session

    async def _resume(
        self, ws: web.WebSocketResponse, d: JSON, send_lock: asyncio.Lock
    ) -> Session | None:
        session = self.sessions.get(str(d.get("session_id")))
        if session is None:
            async with send_lock:
                await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return None
        self.resume_count += 1
        session.ws = ws
        session.lock = send_lock
        seq = d.get("seq") or 0
        for payload in list(session.history):
            if payload["s"] > seq:
                await self._send(session, payload)
        await self._dispatch_to(session, "RESUMED", {"_trace": ['["fake-gateway",{"micros":0}]']})
        session.ready = True
        self._notifier.notify()
        return session
