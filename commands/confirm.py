"""A yes-or-no question under an ephemeral answer, before something that cannot be undone.

Used by `/persona forget`, `/setup reset` and `/setup forget-server`. The sentences are the
catalogue's `<key>_question`, `<key>_yes`, `<key>_no` and `<key>_cancelled`; only the member
who asked can press the buttons.
"""

from __future__ import annotations

import discord

from commands.i18n import for_interaction

TIMEOUT_SECONDS = 120


class _Choice(discord.ui.Button["Confirmation"]):
    def __init__(self, *, choice: bool, label: str, custom_id: str) -> None:
        style = discord.ButtonStyle.danger if choice else discord.ButtonStyle.secondary
        super().__init__(style=style, label=label, custom_id=custom_id)
        self.choice = choice

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        self.view.confirmed = self.choice
        await interaction.response.defer()
        self.view.stop()


class Confirmation(discord.ui.View):
    def __init__(self, owner_id: int, *, custom_id: str, yes: str, no: str) -> None:
        super().__init__(timeout=TIMEOUT_SECONDS)
        self.owner_id = owner_id
        self.confirmed: bool | None = None  # None: nobody answered in time
        self.add_item(_Choice(choice=True, label=yes, custom_id=f"{custom_id}:yes"))
        self.add_item(_Choice(choice=False, label=no, custom_id=f"{custom_id}:no"))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            for_interaction(interaction, "persona.not_your_button"), ephemeral=True
        )
        return False


async def confirmed(interaction: discord.Interaction, key: str, *, custom_id: str) -> bool:
    """Ask, and wait for the answer (the first response: it needs nothing but memory). False
    when cancelled or timed out, after saying so in place of the question; on True the
    caller edits the question into its result."""
    view = Confirmation(
        interaction.user.id,
        custom_id=custom_id,
        yes=for_interaction(interaction, f"{key}_yes"),
        no=for_interaction(interaction, f"{key}_no"),
    )
    await interaction.response.send_message(
        for_interaction(interaction, f"{key}_question"), view=view, ephemeral=True
    )
    if await view.wait() or not view.confirmed:
        await interaction.edit_original_response(
            content=for_interaction(interaction, f"{key}_cancelled"), view=None
        )
        return False
    return True
