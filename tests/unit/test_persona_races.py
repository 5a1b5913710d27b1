"""A persona build takes seconds (an Azure call): what a forget, an opt-out or a shutdown
does to the build in flight. The model is a fake that holds its answer until released."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.llm import JsonAnswer, JsonRequest
from tests.unit.fakes import GUILD, PERSONA_ANSWER, World, message, world

ALICE, BRUNO = 100, 101


class HeldModel:
    """Answers a persona request only once `release` is set; `asked` is set on the call.
    With `deaf`, a cancellation does not stop it (as an SDK call already answered may not)."""

    def __init__(self, *, deaf: bool = False) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.deaf = deaf
        self.requests: list[JsonRequest] = []

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        self.requests.append(request)
        self.asked.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            if not self.deaf:
                raise
            await self.release.wait()
        return JsonAnswer(data=dict(PERSONA_ANSWER), prompt_tokens=10, completion_tokens=1)


async def alice_writes(w: World) -> None:
    for n in range(1, 4):
        await w.store.add(message(n, author=ALICE), counted=True)


async def build_in_flight(w: World, model: HeldModel) -> asyncio.Task[object]:
    """A reply asking for Alice's persona, which starts a build; returns once Azure is asked."""
    asking = asyncio.create_task(w.privacy.persona_if_allowed(GUILD, ALICE))
    await asyncio.wait_for(model.asked.wait(), 5)
    return asking


@pytest.mark.parametrize("erase", ["forget", "opt_out"])
async def test_a_build_in_flight_is_cancelled_and_writes_nothing_after_forget(erase: str) -> None:
    model = HeldModel()
    w = await world(model=model)  # type: ignore[arg-type]
    await alice_writes(w)
    asking = await build_in_flight(w, model)
    await getattr(w.privacy, erase)(GUILD, ALICE)
    model.release.set()
    assert await asyncio.wait_for(asking, 5) is None  # the reply goes on, without a persona
    await w.tasks.wait_idle()
    assert await w.personas.stored(GUILD, ALICE) is None
    assert len(model.requests) == 1


@pytest.mark.parametrize("erase", ["forget", "opt_out"])
async def test_a_build_that_answers_anyway_rechecks_before_it_writes(erase: str) -> None:
    model = HeldModel(deaf=True)  # the cancellation comes too late to stop the answer
    w = await world(model=model)  # type: ignore[arg-type]
    await alice_writes(w)
    asking = await build_in_flight(w, model)
    await getattr(w.privacy, erase)(GUILD, ALICE)
    model.release.set()
    await asyncio.gather(asking, return_exceptions=True)
    await w.tasks.wait_idle()
    assert await w.personas.stored(GUILD, ALICE) is None


async def test_after_a_forget_the_member_is_profiled_again_from_what_they_write_next() -> None:
    model = HeldModel()
    w = await world(model=model)  # type: ignore[arg-type]
    await alice_writes(w)
    asking = await build_in_flight(w, model)
    await w.privacy.forget(GUILD, ALICE)
    assert await asyncio.wait_for(asking, 5) is None
    await w.store.add(message(10, author=ALICE, text="back again"), counted=True)
    model.release.set()  # answers at once from now on
    persona = await w.privacy.persona_if_allowed(GUILD, ALICE)
    assert persona is not None and persona.built_from == 1
    assert await w.personas.stored(GUILD, ALICE) == persona


async def test_shutdown_cancels_builds_still_waiting_on_azure_after_the_grace() -> None:
    model = HeldModel()  # never released: Azure hangs
    w = await world(model=model)  # type: ignore[arg-type]
    await alice_writes(w)
    asking = await build_in_flight(w, model)
    began = time.monotonic()
    await asyncio.wait_for(w.personas.close(grace_seconds=0.1), 5)
    assert time.monotonic() - began < 2
    assert await asyncio.wait_for(asking, 5) is None
    assert await w.personas.stored(GUILD, ALICE) is None


async def test_shutdown_lets_a_build_that_answers_within_the_grace_write_its_profile() -> None:
    model = HeldModel()
    w = await world(model=model)  # type: ignore[arg-type]
    await alice_writes(w)
    asking = await build_in_flight(w, model)
    asyncio.get_running_loop().call_later(0.05, model.release.set)
    await w.personas.close(grace_seconds=5)
    assert await asking is not None
    assert await w.personas.stored(GUILD, ALICE) is not None
