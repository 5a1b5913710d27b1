"""Small in-memory fakes of the ports the services depend on, for the unit tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.background import BackgroundTasks
from services.conversation.persona import PersonaProfiles, PersonaService
from services.llm import JsonAnswer, JsonRequest, LlmError
from services.privacy.privacy import ConsentMode, PrivacyChoices, PrivacyService, ReplyLog
from services.servers.token_usage import TokenAccounting
from services.store import MemoryStore, StoredMessage

GUILD = 1
CHANNEL = 10
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

PERSONA_ANSWER: dict[str, Any] = {
    "summary": "Writes short, cheerful messages.",
    "tone": "cheerful",
    "formality": "casual",
    "humour": "some",
    "verbosity": "terse",
    "language": "en",
    "reply_style": "playful",
    "temperature": 0.9,
}


@dataclass
class FakeChatModel:
    """Answers each request with `answer(request)`: a dict, or an `LlmError` to raise."""

    answer: Callable[[JsonRequest], dict[str, Any] | LlmError] = lambda _: {}
    accepts_temperature: bool = True
    accepts_images: bool = True
    requests: list[JsonRequest] = field(default_factory=list)

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        self.requests.append(request)
        answer = self.answer(request)
        if isinstance(answer, LlmError):
            raise answer
        return JsonAnswer(data=answer, prompt_tokens=len(request.user) // 4, completion_tokens=1)

    def of_kind(self, schema_name: str) -> list[JsonRequest]:
        return [r for r in self.requests if r.schema_name == schema_name]


def by_schema(decision: dict[str, Any]) -> Callable[[JsonRequest], dict[str, Any]]:
    """A model that describes personas with PERSONA_ANSWER and decides with `decision`."""
    return lambda request: PERSONA_ANSWER if request.schema_name == "persona" else decision


def message(
    message_id: int,
    *,
    author: int = 100,
    channel: int = CHANNEL,
    guild: int = GUILD,
    text: str | None = None,
    from_bot: bool = False,
    at: datetime | None = None,
) -> StoredMessage:
    return StoredMessage(
        message_id=message_id,
        guild_id=guild,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author}",
        content=text if text is not None else f"message {message_id}",
        created_at=at or T0 + timedelta(seconds=message_id),
        from_bot=from_bot,
    )


@dataclass
class World:
    """The services around the privacy rules, on one in-memory store."""

    store: MemoryStore
    model: FakeChatModel
    tasks: BackgroundTasks
    personas: PersonaService
    privacy: PrivacyService
    usage: TokenAccounting


async def world(
    *,
    model: FakeChatModel | None = None,
    consent_mode: ConsentMode = "opt-out",
    store: MemoryStore | None = None,
    clock: Callable[[], datetime] = lambda: T0 + timedelta(days=1),
) -> World:
    store = store or MemoryStore()
    model = model or FakeChatModel(by_schema({}))
    tasks = BackgroundTasks()
    usage = TokenAccounting(store, tasks, clock=clock)
    personas = PersonaService(
        store=store,
        profiles=PersonaProfiles(store),
        model=model,
        history=30,
        refresh_after=10,
        min_interval=timedelta(0),
        tasks=tasks,
        clock=clock,
        usage=usage,
    )
    privacy = PrivacyService(
        store=store,
        choices=PrivacyChoices(store),
        replies=ReplyLog(store),
        personas=personas,
        usage=usage,
        consent_mode=consent_mode,
        retention=timedelta(days=30),
        clock=clock,
    )
    await privacy.load()
    return World(store, model, tasks, personas, privacy, usage)
