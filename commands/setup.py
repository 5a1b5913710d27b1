"""/setup: a server's admins choose where the bot listens, how often it speaks, who it is there
and what its chat may spend a day.

Everything here is for members with Manage Server: hidden from others by the group's default
permissions, and checked again on every use (a client may send the command anyway). The
behaviour is `services/servers/settings.py`'s; this cog turns Discord objects into ids and
answers, always ephemerally. What is in memory (the bot's permissions, the current settings)
is read before the first answer; anything that writes the store defers first.
"""

from __future__ import annotations

import logging
from functools import partial

import discord
from discord import app_commands
from discord.ext import commands

from commands.character_form import CharacterModal, WatchableChannel
from commands.confirm import confirmed
from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction
from services.discord_permissions import (
    CHAT_PERMISSIONS,
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    MemberRoles,
    Overwrite,
    channel_permissions,
    missing,
)
from services.display_text import fit_lines
from services.privacy.server_data import ServerData
from services.servers.settings import (
    MAX_EVERY,
    MENTIONS_ONLY,
    MIN_EVERY,
    Pace,
    ServerSettings,
    is_pace,
)
from services.servers.token_usage import NO_CHANNEL, PeriodUse, TokenAccounting

log = logging.getLogger(__name__)

# An embed field value holds 1,024 characters; a channel mention is about 22.
_FIELD_VALUE_LIMIT = 1024
_field = partial(fit_lines, limit=_FIELD_VALUE_LIMIT)


def bot_lacks(channel: WatchableChannel) -> list[str]:
    """What the bot lacks in the channel, computed like `python -m app check` does (from the
    gateway's cache here, from REST there)."""
    guild = channel.guild
    me = guild.me
    member = MemberRoles(
        guild_id=guild.id,
        owner_id=guild.owner_id or 0,
        member_id=me.id,
        role_ids=frozenset(role.id for role in me.roles),
    )
    roles = {role.id: role.permissions.value for role in guild.roles}
    overwrites = []
    for target, overwrite in channel.overwrites.items():
        allow, deny = overwrite.pair()
        is_role = isinstance(target, discord.Role) or (
            isinstance(target, discord.Object) and target.type is discord.Role
        )
        overwrites.append(
            Overwrite(
                target_id=target.id,
                kind=ROLE_OVERWRITE if is_role else MEMBER_OVERWRITE,
                allow=allow.value,
                deny=deny.value,
            )
        )
    return missing(channel_permissions(member, roles, overwrites), CHAT_PERMISSIONS)


def _pace_text(interaction: discord.Interaction, pace: Pace) -> str:
    if pace == MENTIONS_ONLY:
        return for_interaction(interaction, "setup.pace_mentions_only")
    return for_interaction(interaction, "setup.pace_every", every=pace)


def _tokens(interaction: discord.Interaction, count: int | None) -> str:
    if count is None:
        return for_interaction(interaction, "setup.budget_none")
    return for_interaction(interaction, "setup.budget_tokens", tokens=f"{count:,}")


def _usage_lines(interaction: discord.Interaction, use: PeriodUse) -> str:
    """A period's use: the total, each channel, then the top members, by count only."""
    if not use.total:
        return for_interaction(interaction, "setup.usage_nothing")
    lines = [for_interaction(interaction, "setup.usage_total", total=f"{use.total:,}")]
    profiles = for_interaction(interaction, "setup.usage_profiles")
    lines += [
        f"{profiles if channel == NO_CHANNEL else f'<#{channel}>'}: {tokens:,}"
        for channel, tokens in use.by_channel
    ]
    if use.top_members:
        members = ", ".join(f"<@{member}> {tokens:,}" for member, tokens in use.top_members)
        lines.append(for_interaction(interaction, "setup.usage_top", members=members))
    return _field(lines)


class SetupCog(commands.Cog):
    setup = app_commands.Group(
        name="setup",
        description="Set the bot up in this server (Manage Server)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(
        self,
        *,
        servers: ServerSettings,
        operator_channels: frozenset[int],
        usage: TokenAccounting,
        server_data: ServerData,
    ) -> None:
        self._servers = servers
        self._operator_channels = operator_channels
        self._usage = usage
        self._server_data = server_data

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server (re)appears on this process, perhaps moved from another: read its
        settings and today's spending again, since that process may have changed them."""
        self._usage.reread(guild.id)
        await self._servers.load(guild.id)

    @setup.command(name="watch", description="Let the bot listen and talk in a channel")
    @app_commands.describe(channel="A text or forum channel of this server")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def watch(self, interaction: discord.Interaction, channel: WatchableChannel) -> None:
        guild_id = self._guild_of(interaction, channel)
        lacking = bot_lacks(channel)
        if lacking:
            raise UserFacingError(
                for_interaction(
                    interaction,
                    "setup.watch_lacks",
                    channel=channel.mention,
                    permissions=", ".join(lacking),
                )
            )
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store writes
        await self._servers.watch(guild_id, channel.id)
        await answer(
            interaction, for_interaction(interaction, "setup.watching", channel=channel.mention)
        )

    @setup.command(name="unwatch", description="Stop the bot listening in a channel")
    @app_commands.describe(channel="A text or forum channel of this server")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def unwatch(self, interaction: discord.Interaction, channel: WatchableChannel) -> None:
        guild_id = self._guild_of(interaction, channel)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._servers.unwatch(guild_id, channel.id)
        await answer(
            interaction, for_interaction(interaction, "setup.unwatched", channel=channel.mention)
        )

    @setup.command(name="pace", description="How often the bot speaks, here or in one channel")
    @app_commands.describe(
        every=f"Consider replying every Nth message ({MIN_EVERY} to {MAX_EVERY})",
        mentions_only="Only answer when a member mentions or replies to the bot",
        channel="Only this channel (default: the whole server)",
    )
    @app_commands.rename(mentions_only="mentions-only")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def pace(
        self,
        interaction: discord.Interaction,
        every: app_commands.Range[int, MIN_EVERY, MAX_EVERY] | None = None,
        mentions_only: bool = False,
        channel: WatchableChannel | None = None,
    ) -> None:
        guild_id = self._guild_of(interaction, channel)
        chosen: Pace | None = MENTIONS_ONLY if mentions_only and every is None else every
        # Discord's client enforces the range, but a raw request can send anything.
        if chosen is None or (mentions_only and every is not None) or not is_pace(chosen):
            raise UserFacingError(
                for_interaction(interaction, "setup.pace_how", low=MIN_EVERY, high=MAX_EVERY)
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._servers.set_pace(guild_id, chosen, channel.id if channel else None)
        where = channel.mention if channel else for_interaction(interaction, "setup.this_server")
        await answer(
            interaction,
            for_interaction(
                interaction, "setup.pace_set", where=where, pace=_pace_text(interaction, chosen)
            ),
        )

    @setup.command(name="character", description="Who the bot is here: its name and how it talks")
    @app_commands.describe(
        channel="Only this channel (default: the whole server)",
        reset="Go back to the default character",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def character(
        self,
        interaction: discord.Interaction,
        channel: WatchableChannel | None = None,
        reset: bool = False,
    ) -> None:
        guild_id = self._guild_of(interaction, channel)
        where = channel.mention if channel else for_interaction(interaction, "setup.this_server")
        if reset:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self._servers.set_character(guild_id, None, channel.id if channel else None)
            await answer(
                interaction, for_interaction(interaction, "setup.character_reset", where=where)
            )
            return
        # The form opens with what is in force there, from memory.
        current = self._servers.character(guild_id, channel.id if channel else 0).value
        await interaction.response.send_modal(
            CharacterModal(
                interaction,
                servers=self._servers,
                guild_id=guild_id,
                channel=channel,
                current=current,
            )
        )

    @setup.command(
        name="budget", description="A daily cap on the Azure tokens this server may spend"
    )
    @app_commands.describe(
        tokens_per_day="Tokens a day for the whole server",
        per_member="Tokens a day for each member",
    )
    @app_commands.rename(tokens_per_day="tokens-per-day", per_member="per-member")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def budget(
        self,
        interaction: discord.Interaction,
        tokens_per_day: app_commands.Range[int, 1],
        per_member: app_commands.Range[int, 1] | None = None,
    ) -> None:
        guild_id = self._guild_of(interaction, None)
        ceiling = self._servers.max_tokens_per_day
        if tokens_per_day < 1 or (per_member is not None and per_member < 1):
            raise UserFacingError(for_interaction(interaction, "setup.budget_how"))
        if ceiling is not None and tokens_per_day > ceiling:
            raise UserFacingError(
                for_interaction(interaction, "setup.budget_too_high", ceiling=f"{ceiling:,}")
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._servers.set_budget(guild_id, tokens_per_day, per_member)
        budget = self._servers.budget(guild_id)
        member = (
            for_interaction(interaction, "setup.budget_per_member", member=f"{budget.member:,}")
            if budget.member is not None
            else ""
        )
        await answer(
            interaction,
            for_interaction(
                interaction, "setup.budget_set", server=f"{tokens_per_day:,}", member=member
            ),
        )

    @setup.command(name="show", description="See this server's settings and where they come from")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def show(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_of(interaction, None)
        assert interaction.guild is not None
        here = frozenset(c for c in self._operator_channels if interaction.guild.get_channel(c))
        overview = self._servers.overview(guild_id, here)
        await interaction.response.defer(ephemeral=True, thinking=True)  # usage is in the store
        usage = await self._usage.summary(guild_id)

        def t(key: str, **values: object) -> str:
            return for_interaction(interaction, key, **values)

        embed = discord.Embed(title=t("setup.show_title"), colour=discord.Colour.blurple())
        embed.add_field(
            name=t("setup.show_channels"),
            value=_field(
                [f"<#{c.channel_id}> ({t(f'setup.source_{c.source}')})" for c in overview.channels]
            ),
            inline=False,
        )
        if overview.unwatched:
            embed.add_field(
                name=t("setup.show_unwatched"),
                value=_field([f"<#{c}>" for c in overview.unwatched]),
                inline=False,
            )
        embed.add_field(
            name=t("setup.show_pace"),
            value=f"{_pace_text(interaction, overview.pace.value)} "
            f"({t(f'setup.source_{overview.pace.source}')})",
            inline=False,
        )
        if overview.channel_paces:
            embed.add_field(
                name=t("setup.show_channel_paces"),
                value=_field(
                    [
                        f"<#{c}>: {_pace_text(interaction, pace)}"
                        for c, pace in overview.channel_paces.items()
                    ]
                ),
                inline=False,
            )
        character = overview.character
        embed.add_field(
            name=t("setup.show_character"),
            value=(
                f"**{character.value.name}**: {character.value.description[:300]}"
                + ("…" if len(character.value.description) > 300 else "")
                if character.value
                else t("setup.show_character_none")
            )
            + f" ({t(f'setup.source_{character.source}')})",
            inline=False,
        )
        if overview.channel_characters:
            embed.add_field(
                name=t("setup.show_channel_characters"),
                value=_field(
                    [f"<#{c}>: **{ch.name}**" for c, ch in overview.channel_characters.items()]
                ),
                inline=False,
            )
        budget = overview.budget
        budget_text = (
            f"{_tokens(interaction, budget.server)} ({t(f'setup.source_{budget.server_source}')})"
        )
        if budget.member is not None:
            budget_text += t("setup.budget_per_member", member=f"{budget.member:,}")
        embed.add_field(name=t("setup.show_budget"), value=budget_text, inline=False)
        embed.add_field(
            name=t("setup.show_today"), value=_usage_lines(interaction, usage.today), inline=False
        )
        embed.add_field(
            name=t("setup.show_month"), value=_usage_lines(interaction, usage.month), inline=False
        )
        await answer(interaction, embed=embed)

    @setup.command(name="reset", description="Go back to the operator's defaults")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def reset(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_of(interaction, None)
        if not await confirmed(interaction, "setup.reset", custom_id="setup:reset"):
            return
        await self._servers.reset(guild_id)
        await interaction.edit_original_response(
            content=for_interaction(interaction, "setup.reset_done"), view=None
        )

    @staticmethod
    def _guild_of(interaction: discord.Interaction, channel: WatchableChannel | None) -> int:
        """The server the command is for; a channel of another server is refused."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if channel is not None and channel.guild.id != interaction.guild_id:
            raise UserFacingError(for_interaction(interaction, "setup.other_server"))
        return interaction.guild_id

    # -- /setup forget-server: the server's stored content, deleted now ------------------------

    @setup.command(
        name="forget-server",
        description="Delete every message, profile and token count the bot keeps for this server",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forget_server(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_of(interaction, None)
        if not await confirmed(interaction, "setup.forget_server", custom_id="setup:forget-server"):
            return
        erased = await self._server_data.forget_content(guild_id)
        log.info(
            "guild %s: an admin deleted the server's data (%d messages, %d profiles)",
            guild_id,
            erased.messages,
            erased.profiles,
        )
        await interaction.edit_original_response(
            content=for_interaction(
                interaction,
                "setup.forget_server_done",
                messages=erased.messages,
                profiles=erased.profiles,
            ),
            view=None,
        )
