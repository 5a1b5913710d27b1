"""Which attached files a decision shows, in which order, and what the model is told when it
cannot see them: `services/conversation/prompt_files.py` and the decision around it, on the
in-memory store, a fake model and an in-memory attachment reader."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from services.attachment_files import AttachmentRefused, PreparedImage
from services.conversation.conversation import ConversationService
from services.conversation.prompt_files import MAX_TEXT_FILES, read_files
from services.conversation.reply_policy import Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.llm import JsonRequest, LlmError
from services.store import StoredAttachment, StoredMessage
from tests.unit.fakes import CHANNEL, GUILD, FakeChatModel, by_schema, message, world

REPLY = {"reply": True, "style": "warm", "text": "Nice picture!", "reason": "an image"}


def image(name: str) -> StoredAttachment:
    return StoredAttachment(name, "image/png", 1000, f"https://cdn.discordapp.com/a/{name}")


def text_file(name: str) -> StoredAttachment:
    return StoredAttachment(name, "text/plain", 10, f"https://cdn.discordapp.com/a/{name}")


def with_files(n: int, *files: StoredAttachment, author: int = 100) -> StoredMessage:
    return replace(message(n, author=author), attachments=files)


@dataclass
class Reader:
    """Reads every file from memory; the names in `broken` are refused."""

    broken: set[str] = field(default_factory=set)
    read: list[str] = field(default_factory=list)

    async def image(self, attachment: StoredAttachment) -> PreparedImage:
        self.read.append(attachment.filename)
        if attachment.filename in self.broken:
            raise AttachmentRefused("damaged image")
        return PreparedImage("image/jpeg", 10, 10, attachment.filename.encode())

    async def text(self, attachment: StoredAttachment) -> str:
        self.read.append(attachment.filename)
        return f"the text of {attachment.filename}"


async def test_images_are_the_newest_first_up_to_the_limit() -> None:
    context = [
        with_files(1, image("old.png")),
        with_files(2, image("a.png"), image("b.png")),
        with_files(3, image("trigger.png")),
    ]
    reader = Reader()
    files = await read_files(reader, context, 3, max_images=3)
    assert reader.read == ["trigger.png", "a.png", "b.png"]  # "old.png" never read
    assert [(i.number, i.filename) for i in files.images.values()] == [
        (1, "trigger.png"),
        (2, "a.png"),
        (3, "b.png"),
    ]
    assert files.lines_for(context[0]) == ["[image: old.png]"]
    assert files.lines_for(context[1]) == ["[image 2: a.png]", "[image 3: b.png]"]
    assert files.prompt_images()[0].caption == (
        '{"image": 1, "file": "trigger.png", "author": "member100"}'
    )


async def test_an_image_that_cannot_be_read_is_named_and_the_others_keep_their_numbers() -> None:
    context = [with_files(1, image("first.png")), with_files(2, image("broken.png"))]
    files = await read_files(Reader(broken={"broken.png"}), context, 2, max_images=4)
    assert files.lines_for(context[1]) == ["[image: broken.png]"]
    assert files.lines_for(context[0]) == ["[image 1: first.png]"]


async def test_the_bots_own_messages_and_a_zero_limit_show_no_image() -> None:
    own = replace(with_files(1, image("own.png")), from_bot=True)
    reader = Reader()
    assert (await read_files(reader, [own], 1, max_images=4)).images == {}
    member = with_files(2, image("member.png"))
    assert (await read_files(reader, [member], 2, max_images=0)).images == {}
    assert reader.read == []


async def test_only_the_triggers_text_files_are_quoted_a_few_at_most() -> None:
    notes = [text_file(f"notes{n}.md") for n in range(MAX_TEXT_FILES + 1)]
    context = [
        with_files(1, text_file("older.txt")),
        with_files(2, *notes, StoredAttachment("report.pdf", "application/pdf")),
    ]
    files = await read_files(Reader(), context, 2, max_images=4)
    assert [f.filename for f in files.texts.values()] == [n.filename for n in notes][:-1]
    assert files.lines_for(context[0]) == ["[file: older.txt]"]
    assert files.lines_for(context[1])[-1] == "[file: report.pdf]"
    assert '"text": "the text of notes0.md"' in files.files_block()


def trigger(message_id: int) -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, 100, "mention")


async def conversation(model: FakeChatModel, reader: Reader) -> ConversationService:
    w = await world(model=model)
    await w.store.add(message(1, author=101), counted=True)
    await w.store.add(with_files(2, image("cat.png"), text_file("n.txt")), counted=True)
    return ConversationService(
        store=w.store,
        model=model,
        personas=w.privacy.persona_if_allowed,
        temperature=TemperatureSettings(GuildSettingsRepository(w.store)).effective,
        quotable=w.privacy.may_store,
        context_messages=5,
        files=reader,
        max_images=4,
    )


async def test_a_decision_shows_images_after_the_text_and_quotes_files_as_member_data() -> None:
    model = FakeChatModel(by_schema(REPLY))
    service = await conversation(model, Reader())
    decision = await service.decide(trigger(2), bot_name="Aria")
    assert decision.outcome == "reply" and decision.images == 1
    [request] = model.of_kind("decision")
    assert [i.data_url for i in request.images] == ["data:image/jpeg;base64,Y2F0LnBuZw=="]
    assert "[image 1: cat.png]\\n[file: n.txt]" in request.user
    assert "<files>" in request.user and "the text of n.txt" in request.user
    assert "cat.png" not in request.system and "the text of" not in request.system
    assert "<files>" in request.system  # the rule on files, said only when there are some
    await service.decide(trigger(1), bot_name="Aria")  # up to message 1: no file in sight
    without = model.of_kind("decision")[-1]
    assert without.images == () and "<files>" not in without.system


async def test_a_model_without_vision_is_asked_again_with_the_images_named() -> None:
    def answer(request: JsonRequest) -> dict[str, object] | LlmError:
        if request.images:
            model.accepts_images = False  # as the Azure adapter remembers a refusal
            return LlmError("no_vision")
        return REPLY

    model = FakeChatModel(answer)
    reader = Reader()
    service = await conversation(model, reader)
    decision = await service.decide(trigger(2), bot_name="Aria")
    assert decision.outcome == "reply" and decision.images == 0
    refused, answered = model.of_kind("decision")
    assert len(refused.images) == 1 and answered.images == ()
    assert "[image: cat.png]" in answered.user and "the text of n.txt" in answered.user
    # From then on the images are not even read.
    reader.read.clear()
    await service.decide(trigger(2), bot_name="Aria")
    assert reader.read == ["n.txt"]
    assert model.of_kind("decision")[-1].images == ()
