# The waiting helpers take a `timeout` argument on purpose: it is the fixtures' public API.
# ruff: noqa: ASYNC109
"""A loopback fake of Discord: REST API v10 and the gateway, spoken with the real protocols.

Point an unmodified discord.py client at it with :meth:`FakeDiscord.install`, which sets
``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``.
Payload shapes follow what discord.py 2.7 parses (see ``state.py``, ``guild.py``,
``message.py``, ``interactions.py`` and ``webhook/async_.py``).

:class:`FakeDiscord` is the facade the tests drive; the work is done by its parts: the
:class:`~tests.fakes.discord.model.Model` (what Discord stores), the HTTP front door (recording,
injected failures, auth), the REST routes, the gateway sessions, interactions and voice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast, overload

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.cdn import Cdn
from tests.fakes.discord.faults import Faults, Hold
from tests.fakes.discord.front import Front, RecordedRequest
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.interactions import FakeInteraction, Interactions
from tests.fakes.discord.limits import ATTACHMENT_SIZE_MAX
from tests.fakes.discord.messages import Messages
from tests.fakes.discord.model import FakeUser, Member, Model, stage_channel_payload
from tests.fakes.discord.protocol import CDN_PREFIX, JSON, Address, FakeClock
from tests.fakes.discord.quirks import Quirks
from tests.fakes.discord.rest import Rest
from tests.fakes.discord.threads import Threads
from tests.fakes.discord.voice import Voice
from tests.fakes.discord.waits import Notifier
from tests.fakes.loopback import serve_on_loopback

T = TypeVar("T")


class _Forward(Generic[T]):
    """A facade attribute that lives on one of its parts, read and written there."""

    def __init__(self, part: str) -> None:
        self._part = part
        self._name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type[object] | None = None) -> _Forward[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type[object] | None = None) -> T: ...
    def __get__(self, obj: object | None, objtype: type[object] | None = None) -> Any:
        if obj is None:
            return self
        return cast(T, getattr(getattr(obj, self._part), self._name))

    def __set__(self, obj: object, value: T) -> None:
        setattr(getattr(obj, self._part), self._name, value)


class FakeDiscord:
    """The fake the tests drive; its attributes and methods forward to the parts it owns."""

    # What Discord stores (the model)
    token = _Forward[str]("_model")
    application_id = _Forward[int]("_model")
    application_flags = _Forward[int]("_model")
    bot_user = _Forward[FakeUser]("_model")
    guild_id = _Forward[int]("_model")
    guild_name = _Forward[str]("_model")
    owner_id = _Forward[int]("_model")
    admin_role_id = _Forward[int]("_model")
    bot_role_id = _Forward[int]("_model")
    channels = _Forward[dict[int, JSON]]("_model")
    threads = _Forward[dict[int, JSON]]("_model")
    dm_channels = _Forward[dict[int, JSON]]("_model")
    roles = _Forward[dict[int, JSON]]("_model")
    users = _Forward[dict[int, FakeUser]]("_model")
    guild_members = _Forward[dict[int, Member]]("_model")
    messages = _Forward[dict[int, JSON]]("_model")
    synced_commands = _Forward[dict[int | None, list[JSON]]]("_model")
    voice_channel_of = _Forward[dict[int, int]]("_model")
    # Recorded traffic: REST
    requests = _Forward[list[RecordedRequest]]("_front")
    unhandled = _Forward[list[str]]("_front")
    sent_messages = _Forward[list[JSON]]("_rest")
    deleted_messages = _Forward[list[int]]("_rest")
    typing = _Forward[list[int]]("_rest")
    reactions = _Forward[list[tuple[int, int, str]]]("_rest")
    interactions = _Forward[dict[int, FakeInteraction]]("_interactions")
    # Recorded traffic: gateway
    presences = _Forward[list[JSON]]("_gateway")
    voice_state_requests = _Forward[list[JSON]]("_gateway")
    member_requests = _Forward[list[JSON]]("_gateway")
    identify_payloads = _Forward[list[JSON]]("_gateway")
    identify_count = _Forward[int]("_gateway")
    resume_count = _Forward[int]("_gateway")
    gateway_close_codes = _Forward[list[int | None]]("_gateway")
    heartbeat_interval_ms = _Forward[int]("_gateway")  # asked in HELLO; default 41,250
    # Shards: what GET /gateway/bot reports
    recommended_shards = _Forward[int]("_gateway")
    session_start_limit = _Forward[JSON]("_gateway")
    # The fake voice server the bot is sent to
    voice_endpoint = _Forward[str]("_voice")

    def __init__(
        self,
        *,
        token: str = "fake-token",
        application_id: int,
        bot_user: FakeUser,
        guild_id: int,
        guild_name: str = "Test Guild",
        text_channels: dict[int, str],
        voice_channels: dict[int, str] | None = None,
        members: list[FakeUser] | None = None,
        owner_id: int | None = None,
    ) -> None:
        self._model = Model(
            token=token,
            application_id=application_id,
            bot_user=bot_user,
            guild_id=guild_id,
            guild_name=guild_name,
            text_channels=text_channels,
            voice_channels=voice_channels,
            members=members,
            owner_id=owner_id,
        )
        self._address = Address()
        self._notifier = Notifier()
        self._faults = Faults()
        self._quirks = Quirks()
        self._front = Front(self._model, self._notifier, self._faults)
        self._gateway = Gateway(self._model, self._notifier, self._address, self._quirks)
        dispatch = self._gateway.dispatch
        self._messages = Messages(self._model, self._address, dispatch)
        self._rest = Rest(self._model, self._messages, self._notifier, dispatch, self._quirks)
        self._clock = FakeClock()
        self._interactions = Interactions(
            self._model, self._messages, self._notifier, dispatch, self._clock
        )
        self._voice = Voice(self._model, self._notifier, dispatch)
        self._threads = Threads(self._model, self._messages, self._notifier, dispatch)
        self._gateway.on_voice_state = self._voice.answer_voice_state
        self._cdn = Cdn(self._model)
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # Bodies past aiohttp's 1 MiB default are read, so that the fake answers an upload past
        # Discord's limit the way Discord does (413, code 40005), not aiohttp's way.
        app = web.Application(
            middlewares=[self._front.middleware], client_max_size=4 * ATTACHMENT_SIZE_MAX
        )
        self._gateway.add_routes(app.router)
        self._rest.add_routes(app.router)
        self._interactions.add_routes(app.router)
        self._threads.add_routes(app.router)
        self._voice.add_routes(app.router)
        self._cdn.add_routes(app.router)
        self._runner, self._address.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        await self._gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._address.port

    @property
    def rest_base(self) -> str:
        return self._address.rest_base

    @property
    def gateway_url(self) -> str:
        return self._address.gateway_url

    def install(self) -> contextlib.AbstractContextManager[None]:
        """Point discord.py (REST, webhooks, interactions and gateway) at this fake."""
        return self._install()

    @contextlib.contextmanager
    def _install(self) -> Iterator[None]:
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    def reset(self) -> None:
        """Clear recordings and queued failures (guild, messages and sessions are kept)."""
        self._front.reset()
        self._rest.reset()
        self._gateway.reset()
        self._voice.reset()
        self._faults.clear()
        self._quirks.reset()

    # ------------------------------------------------------------------ the guild

    def snowflake(self) -> int:
        """A new increasing snowflake for the current time."""
        return self._model.snowflake()

    def add_role(self, name: str, permissions: int) -> int:
        """Create a guild role (state only; not dispatched). Returns its id."""
        return self._model.add_role(name, permissions)

    def add_guild_member(
        self,
        user: FakeUser,
        *,
        admin: bool = False,
        permissions: int | None = None,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> JSON:
        """Make ``user`` a guild member (state only; use :meth:`join_member` to dispatch).

        ``admin=True`` gives the Administrator role; ``permissions`` creates a dedicated role
        with exactly those permission bits (on top of @everyone). Returns the member payload.
        """
        self._model.add_guild_member(
            user, admin=admin, permissions=permissions, roles=roles, nick=nick
        )
        return self.member_payload(user.id)

    async def join_member(self, user: FakeUser, *, admin: bool = False) -> JSON:
        """Add a member and dispatch GUILD_MEMBER_ADD."""
        payload = self.add_guild_member(user, admin=admin)
        await self.dispatch("GUILD_MEMBER_ADD", {**payload, "guild_id": str(self.guild_id)})
        return payload

    def member_permissions(self, user_id: int) -> int:
        """Guild-level computed permissions (before any channel overwrite)."""
        return self._model.member_permissions(user_id)

    def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        member: bool = False,
        allow: int = 0,
        deny: int = 0,
    ) -> None:
        """Give a channel a permission overwrite for a role (the guild id: @everyone) or, with
        ``member=True``, a member (state only; not dispatched)."""
        self._model.set_overwrite(channel_id, target_id, member=member, allow=allow, deny=deny)

    def clear_overwrites(self, channel_id: int) -> None:
        self._model.channels[channel_id]["permission_overwrites"] = []

    def member_payload(self, user_id: int) -> JSON:
        return payloads.member_payload(self._model, user_id)

    def member_payload_for(self, user: FakeUser) -> JSON:
        return payloads.member_payload_for(self._model, user)

    def guild_payload(self) -> JSON:
        """The guild as ``GET /guilds/{id}`` returns it."""
        return payloads.guild_payload(self._model)

    def guild_create_payload(self) -> JSON:
        return payloads.guild_create_payload(self._model)

    # ------------------------------------------------------------------ more guilds, shards

    def add_guild(self, guild_id: int, name: str, text_channels: dict[int, str]) -> None:
        """Another guild the bot is in (same members, its own text channels); a session gets
        it when the guild is on its shard."""
        self._model.add_guild(guild_id, name, text_channels)

    async def remove_guild(self, guild_id: int, *, unavailable: bool = False) -> None:
        """The bot is removed from a guild added with `add_guild` (GUILD_DELETE; its REST
        `GET /guilds/{id}` answers 404 from then on), or, `unavailable`, the guild has an
        outage (GUILD_DELETE with `unavailable: true`; the bot stays in it)."""
        data: JSON = {"id": str(guild_id)}
        if unavailable:
            data["unavailable"] = True
        else:
            self._model.remove_guild(guild_id)
        await self._gateway.dispatch_for_guild("GUILD_DELETE", data, guild_id)

    async def join_guild(self, guild_id: int, name: str, text_channels: dict[int, str]) -> None:
        """The bot is added to a guild (again): GUILD_CREATE to its shard's sessions."""
        self._model.add_guild(guild_id, name, text_channels)
        payload = payloads.guild_create_for(self._model, guild_id)
        # A join's GUILD_CREATE has no `unavailable` (the start's lazy ones say false): how
        # discord.py tells on_guild_join from on_guild_available.
        payload.pop("unavailable", None)
        await self._gateway.dispatch_for_guild("GUILD_CREATE", payload, guild_id)

    def ready_shards(self) -> list[tuple[int, int]]:
        """`(shard_id, count)` of each live sharded session that has its guilds."""
        return self._gateway.ready_shards()

    def ready_session_ids(self, shard_id: int) -> list[str]:
        """The ids of the live sessions of one shard that have their guilds."""
        return self._gateway.ready_session_ids(shard_id)

    def application_payload(self) -> JSON:
        return payloads.application_payload(self._model)

    # ------------------------------------------------------------------ driving events

    async def post_message(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        webhook_id: int | None = None,
        message_type: int = 0,
        mentions: list[FakeUser] | None = None,
        reply_to: int | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        in_guild: bool = True,
    ) -> JSON:
        """A user (or a webhook) posts a message; dispatches MESSAGE_CREATE and returns it.

        ``in_guild=False`` makes ``channel_id`` the DM channel between ``author`` and the bot.
        A reply (``reply_to``) gets type 19, ``message_reference`` and ``referenced_message``.
        """
        return await self._messages.post(
            channel_id,
            author,
            content,
            webhook_id=webhook_id,
            message_type=message_type,
            mentions=mentions,
            reply_to=reply_to,
            attachments=attachments,
            embeds=embeds,
            in_guild=in_guild,
        )

    async def edit_message(self, message_id: int, content: str) -> JSON:
        return await self._messages.edit(message_id, content)

    async def delete_message(self, message_id: int) -> None:
        await self._messages.delete(message_id)

    async def send_interaction(
        self,
        name: str,
        *,
        user: FakeUser,
        channel_id: int,
        options: list[JSON] | None = None,
        locale: str = "en-US",
        command_type: int = 1,
        resolved: JSON | None = None,
        target_id: int | None = None,
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE (type 2) for application command ``name``.

        The command id is the synced one (guild first, then global) when it exists.
        """
        return await self._interactions.send_command(
            name,
            user=user,
            channel_id=channel_id,
            options=options,
            locale=locale,
            command_type=command_type,
            resolved=resolved,
            target_id=target_id,
        )

    async def click_button(
        self, message: JSON, custom_id: str, *, user: FakeUser, component_type: int = 2
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE (type 3) for a component on ``message``."""
        return await self._interactions.click(
            message, custom_id, user=user, component_type=component_type
        )

    async def submit_modal(
        self, shown: FakeInteraction, values: list[str], *, user: FakeUser
    ) -> FakeInteraction:
        """Fill and send the modal the bot opened in answer to `shown` (type 5)."""
        return await self._interactions.submit_modal(shown, values, user=user)

    async def join_voice(self, user: FakeUser, channel_id: int | None) -> None:
        """A member joins (or, with None, leaves) a voice channel: VOICE_STATE_UPDATE."""
        await self._voice.join(user, channel_id)

    async def leave_voice(self, user: FakeUser) -> None:
        """A member leaves whatever voice channel they are in (channel_id null)."""
        await self._voice.leave(user)

    async def move_bot_voice(self, channel_id: int | None) -> None:
        """A moderator moves the bot to `channel_id`, or (None) disconnects it from voice.

        The bot did not ask: its VOICE_STATE_UPDATE comes out of the blue, and a move is
        followed by a VOICE_SERVER_UPDATE, as Discord does.
        """
        await self._voice.move_bot(channel_id)

    @property
    def bot_voice_channel(self) -> int | None:
        return self._voice.bot_voice_channel

    @property
    def bot_suppressed(self) -> bool:
        """Whether the bot is in a stage channel's audience (what it plays, nobody hears)."""
        return bool(self._model.voice_flags.get(self._model.bot_user.id, {}).get("suppress"))

    @property
    def voice_state_patches(self) -> list[JSON]:
        """The bodies of the bot's PATCH /guilds/{id}/voice-states/@me, in order."""
        return self._voice.voice_state_patches

    def add_stage_channel(self, channel_id: int, name: str) -> JSON:
        """Create a stage channel (type 13; state only: before the bot connects)."""
        channel = stage_channel_payload(
            self._model.guild_id, channel_id, name, len(self._model.channels)
        )
        self._model.channels[channel_id] = channel
        return channel

    # ------------------------------------------------------------------ threads and forum posts

    def add_forum_channel(self, channel_id: int, name: str) -> JSON:
        """Create a forum channel (type 15; state only: before the bot connects)."""
        return self._threads.add_forum_channel(channel_id, name)

    async def start_thread(
        self, parent_id: int, owner: FakeUser, name: str, *, private: bool = False
    ) -> JSON:
        """A member starts a thread in a text channel (a private one has the bot in it):
        THREAD_CREATE. Post in it with :meth:`post_message` and the thread's id."""
        return await self._threads.start(parent_id, owner, name, private=private)

    async def post_in_forum(
        self, forum_id: int, owner: FakeUser, title: str, content: str
    ) -> tuple[JSON, JSON]:
        """A member posts in a forum channel: THREAD_CREATE, then the starter message (whose
        id is the thread's). Returns the thread and the message."""
        return await self._threads.post_in_forum(forum_id, owner, title, content)

    async def archive_thread(self, thread_id: int) -> JSON:
        """The thread is archived: THREAD_UPDATE."""
        return await self._threads.archive(thread_id)

    async def delete_thread(self, thread_id: int) -> None:
        """The thread and its messages are deleted: THREAD_DELETE."""
        await self._threads.delete(thread_id)

    # ------------------------------------------------------------------ gateway

    @property
    def connected(self) -> bool:
        return self._gateway.connected

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send any gateway event (op 0) to the connected bot (kept for RESUME replay)."""
        await self._gateway.dispatch(event, data)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; the bot should close and RESUME."""
        await self._gateway.send_reconnect()

    async def gateway_down(self) -> None:
        """An outage: the websockets close (1011; sessions kept) and new ones get a 503."""
        await self._gateway.go_down()

    def gateway_up(self) -> None:
        """The outage is over: the bot's next attempt connects (and RESUMEs)."""
        self._gateway.come_back()

    async def shard_down(self, shard_id: int) -> None:
        """An outage of one shard: its sessions close (1011) and cannot come back until
        `shard_up`; the other shards' sessions go on."""
        await self._gateway.shard_down(shard_id)

    async def shard_stuck(self, shard_id: int) -> None:
        """One shard half broken: its sessions close (1011) and its RESUME is never answered
        (the socket stays up, heartbeats acknowledged), until `shard_up`; the other shards'
        sessions go on. Only a clean close and an IDENTIFY bring it back."""
        await self._gateway.shard_stuck(shard_id)

    def shard_up(self, shard_id: int) -> None:
        self._gateway.shard_up(shard_id)

    async def send_invalid_session(self, resumable: bool) -> None:
        """Send op 9 INVALID_SESSION. A non-resumable one forgets the session."""
        await self._gateway.send_invalid_session(resumable)

    # ------------------------------------------------------------------ failures

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int,
        body: JSON,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching method and path prefix (after /api/v10)."""
        self._faults.fail_next(
            method, path_prefix, status=status, body=body, headers=headers, times=times
        )

    def fail_next_rate_limited(
        self, method: str, path_prefix: str, *, retry_after: float = 0.05, times: int = 1
    ) -> None:
        """A 429 of the route's bucket, with Discord's headers (discord.py retries it)."""
        self._faults.fail_next_rate_limited(
            method, path_prefix, retry_after=retry_after, times=times
        )

    def fail_next_globally_rate_limited(self, *, retry_after: float = 0.05, times: int = 1) -> None:
        """A global 429 for the next ``times`` requests (interaction endpoints excepted)."""
        self._faults.fail_next_globally_rate_limited(retry_after=retry_after, times=times)

    def advance_clock(self, seconds: float) -> None:
        """Age every interaction sent so far by ``seconds`` (their 3-second and 15-minute
        deadlines count on the fake's clock)."""
        self._clock.advance(seconds)

    def hold(self, method: str, path_prefix: str) -> Hold:
        """Hold the matching requests (method and path prefix after /api/v10) until the
        returned hold is released; :meth:`reset` releases every hold."""
        return self._faults.hold(method, path_prefix)

    @contextlib.contextmanager
    def foreign(self) -> Iterator[Quirks]:
        """Behave, for the block, like a Discord-compatible server nobody here wrote: the test
        turns on the quirks it wants on the yielded :class:`Quirks`; all are off afterwards."""
        self._quirks.reset()
        try:
            yield self._quirks
        finally:
            self._quirks.reset()

    # ------------------------------------------------------------------ waiting

    async def wait_until_connected(self, timeout: float = 10) -> None:
        """Return once a session got its GUILD_CREATE (or RESUMED) on a live websocket."""
        await self._notifier.wait_for(lambda: self.connected, timeout, "a gateway session")

    async def wait_for_state(
        self, predicate: Callable[[], bool], timeout: float = 10, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked on every change the fake records."""
        await self._notifier.wait_for(predicate, timeout, what)

    def cdn_fetches(self) -> list[RecordedRequest]:
        """Every request for an attachment's bytes (the CDN), in order."""
        return [r for r in self.requests if r.path.startswith(CDN_PREFIX + "/")]

    async def wait_for_sent(
        self,
        predicate: Callable[[JSON], bool] = lambda m: True,
        *,
        count: int = 1,
        timeout: float = 10,
    ) -> list[JSON]:
        """Wait until ``count`` messages sent by the bot (REST) satisfy ``predicate``."""
        found: list[JSON] = []

        def check() -> bool:
            found[:] = [m for m in self.sent_messages if predicate(m)]
            return len(found) >= count

        await self._notifier.wait_for(check, timeout, f"{count} sent message(s)")
        return found[:count]

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10
    ) -> RecordedRequest:
        found: list[RecordedRequest] = []

        def check() -> bool:
            found[:] = [r for r in self.requests if predicate(r)]
            return bool(found)

        await self._notifier.wait_for(check, timeout, "a matching request")
        return found[0]
