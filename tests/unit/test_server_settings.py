"""Each server's channels and pace: what /setup stores, and what the reply path reads."""

from __future__ import annotations

from services.conversation.reply_policy import FloodGuard, MessageFacts, ReplyPolicy, Skip, Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.cooldown import Cooldown
from services.servers.settings import MENTIONS_ONLY, ServerSettings, WatchedChannel
from services.servers.watched_channels import WatchRule
from services.store import MemoryStore
from tests.unit.fakes import CHANNEL, GUILD, message, world

OPERATOR, ADDED, OTHER_GUILD = 11, 12, 77


def servers_on(store: MemoryStore, *, every: int = 5) -> ServerSettings:
    return ServerSettings(store, default_channels=frozenset({OPERATOR}), default_every=every)


async def test_a_watched_channel_is_watched_and_an_unwatched_operator_channel_is_not() -> None:
    servers = servers_on(MemoryStore())
    rule = WatchRule(frozenset({OPERATOR}), None, servers=servers)
    assert rule.watches(GUILD, OPERATOR) and not rule.watches(GUILD, ADDED)
    await servers.watch(GUILD, ADDED)
    await servers.unwatch(GUILD, OPERATOR)
    assert rule.watches(GUILD, ADDED) and not rule.watches(GUILD, OPERATOR)
    assert rule.watches(GUILD, 999, parent_id=ADDED)  # a thread of a watched channel
    # Another server keeps the operator's channels, and not this server's.
    assert rule.watches(OTHER_GUILD, OPERATOR) and not rule.watches(OTHER_GUILD, ADDED)


async def test_the_pace_comes_from_the_channel_then_the_server_then_the_operator() -> None:
    servers = servers_on(MemoryStore())
    assert (servers.pace(GUILD, ADDED).value, servers.pace(GUILD, ADDED).source) == (5, "operator")
    await servers.set_pace(GUILD, 8)
    await servers.set_pace(GUILD, MENTIONS_ONLY, ADDED)
    assert servers.pace(GUILD, OPERATOR).value == 8
    assert servers.pace(GUILD, OPERATOR).source == "server"
    assert servers.pace(GUILD, ADDED).source == "channel"
    assert servers.every(GUILD, ADDED) is None
    assert servers.every(OTHER_GUILD, ADDED) == 5


async def test_a_thread_or_forum_post_takes_its_parent_channels_pace() -> None:
    servers = servers_on(MemoryStore())
    await servers.set_pace(GUILD, 3, ADDED)
    thread = 999
    assert servers.pace(GUILD, thread, ADDED).value == 3
    assert servers.pace(GUILD, thread, ADDED).source == "channel"
    await servers.set_pace(GUILD, 9, thread)  # a thread's own choice wins
    assert servers.every(GUILD, thread, ADDED) == 9
    assert servers.pace(GUILD, thread).source == "channel"
    assert servers.pace(GUILD, 1000, OPERATOR).source == "operator"


async def test_settings_survive_a_restart_and_keep_the_temperature_beside_them() -> None:
    store = MemoryStore()
    temperature = TemperatureSettings(GuildSettingsRepository(store))
    await temperature.set_base(GUILD, 1.1)
    before = servers_on(store)
    await before.watch(GUILD, ADDED)
    await before.set_pace(GUILD, 3, ADDED)
    after = servers_on(store)
    await after.load_all()
    assert after.watched_by(GUILD) == {ADDED}
    assert after.every(GUILD, ADDED) == 3
    assert await temperature.base(GUILD) == 1.1
    await after.reset(GUILD)
    assert after.watched_by(GUILD) == frozenset() and after.every(GUILD, ADDED) == 5
    assert await temperature.base(GUILD) == 1.1  # not a /setup setting


async def test_a_change_made_elsewhere_is_read_when_the_server_becomes_available() -> None:
    store = MemoryStore()
    here, elsewhere = servers_on(store), servers_on(store)
    await elsewhere.watch(GUILD, ADDED)
    assert here.watched_by(GUILD) == frozenset()
    await here.load(GUILD)
    assert here.watched_by(GUILD) == {ADDED}


async def test_show_lists_every_channel_with_where_it_comes_from() -> None:
    servers = servers_on(MemoryStore())
    await servers.watch(GUILD, ADDED)
    overview = servers.overview(GUILD, frozenset({OPERATOR}))
    assert overview.channels == [
        WatchedChannel(OPERATOR, "operator"),
        WatchedChannel(ADDED, "server"),
    ]
    assert overview.pace.source == "operator"


async def test_an_unreadable_field_is_the_default() -> None:
    store = MemoryStore()
    await store.put_state("guild_settings", str(GUILD), {"v": 1, "pace": 999, "watched": "x"})
    servers = servers_on(store)
    await servers.load_all()
    assert servers.every(GUILD, CHANNEL) == 5 and servers.watched_by(GUILD) == frozenset()


async def test_mentions_only_answers_mentions_and_has_no_beat() -> None:
    w = await world()
    servers = servers_on(w.store, every=2)
    await servers.set_pace(GUILD, MENTIONS_ONLY, CHANNEL)
    policy = ReplyPolicy(
        store=w.store,
        privacy=w.privacy,
        every=2,
        mention_cooldown=Cooldown(0),
        flood=FloodGuard(),
        pace=servers.every,
    )
    quiet = [await policy.take(MessageFacts(message(n), addresses_bot=False)) for n in (1, 2, 3, 4)]
    assert {s.reason for s in quiet if isinstance(s, Skip)} == {"mentions only"}
    asked = await policy.take(MessageFacts(message(5), addresses_bot=True))
    assert isinstance(asked, Trigger) and asked.reason == "mention"
