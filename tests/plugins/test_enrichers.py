"""The built-in enrichers on real English and Italian comments, and their wiring into ingest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from tribeops.core import tables as t
from tribeops.core.ingest import ingest_batch
from tribeops.core.plugin_api import Enricher
from tribeops.core.plugins import DEFAULT_PLUGINS, create_manager
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.services.brands import BrandService
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.settings import Settings
from tribeops.core.schemas.events import Enrichment
from tribeops.plugins import enrichers
from tribeops.plugins.enrichers import ENRICHERS, language, link_only, question, sentiment, tags, thanks
from tribeops.testing.events import EventBuilder

from .kit import plugin, registering


def enrich(text: str | None) -> dict[str, Any]:
    """Every built-in enricher on one event, merged the way ingest merges them."""
    event = {"id": "e1", "kind": "comment", "text": text}
    found: dict[str, Any] = {}
    for enricher in ENRICHERS:
        result = enricher.enrich(event)
        assert isinstance(result, dict)
        assert not set(result) & set(found), f"{enricher.name} overwrites another enricher's field"
        found.update(result)
    return found


@pytest.mark.parametrize("text", [
    "Thank you so much for the quick reply!",
    "Grazie mille per l'aiuto!",
    "Ti ringrazio, gentilissimi",
    "Vi ringrazio per la pazienza",
    "Mille grazie, siete stati gentilissimi",
    "thx, that fixed it",
    "Thanks a lot, the new grinder is perfect",
    "Non so come ringraziarvi",
])
def test_thanks_in_english_and_italian(text: str) -> None:
    assert thanks({"text": text}) == {"thanks": True}


@pytest.mark.parametrize("text", [
    "No thanks, I'm good",
    "No grazie",
    "No, grazie.",
    "Thanks for nothing",
    "Happy Thanksgiving from our team",
    "The coffee arrived cold again",
    "Ho ordinato la moka ieri",
])
def test_declining_or_other_text_is_not_thanks(text: str) -> None:
    assert thanks({"text": text}) == {"thanks": False}


@pytest.mark.parametrize("text", [
    "Come si prepara il cold brew?",
    "Does the grinder work with espresso?",
    "qualcuno sa dove trovarlo",
    "Mi sapete dire quando riapre il negozio",
    "Dove posso comprarlo a Milano",
    "Perché il mio ordine non è ancora arrivato",
    "How do I descale the machine",
    "Is it decaf",
    "Hi, anyone tried the new blend",
    "I was wondering if you ship to Italy",
])
def test_questions_with_and_without_a_question_mark(text: str) -> None:
    assert question({"text": text}) == {"question": True}


@pytest.mark.parametrize("text", [
    "Come sempre, ottimo caffè",
    "What a great coffee!",
    "Will buy again",
    "Can't wait to try it!",
    "Quanto è buono questo caffè!",
    "When I drink it in the morning I feel great",
    "Check the FAQ at https://acme.example.com/help?topic=grinder",
])
def test_statements_and_exclamations_are_not_questions(text: str) -> None:
    assert question({"text": text}) == {"question": False}


@pytest.mark.parametrize(("text", "label"), [
    ("Non mi piace per niente, pessimo servizio", "negative"),
    ("Adoro questo caffè ❤️", "positive"),
    ("The coffee is not bad at all", "positive"),
    ("Niente male, davvero", "positive"),
    ("Non è buono come prima", "negative"),
    ("I don't recommend this grinder", "negative"),
    ("The delivery was late and the box arrived broken, really disappointed.", "negative"),
    ("Il servizio clienti non risponde da giorni, sono molto deluso", "negative"),
    ("Consegna velocissima e prodotto ottimo, consigliatissimo!", "positive"),
    ("Absolutely love the new espresso blend 😍", "positive"),
    ("Ho ricevuto il pacco oggi", "neutral"),
    ("The order number is in the email", "neutral"),
    ("😡😡", "negative"),
])
def test_sentiment_with_negation_intensifiers_and_emoji(text: str, label: str) -> None:
    found = sentiment({"text": text})
    assert found["sentiment_label"] == label, found
    assert -1.0 <= found["sentiment"] <= 1.0


def test_not_bad_is_not_negative_and_intensifiers_strengthen() -> None:
    assert sentiment({"text": "The coffee is not bad at all"})["sentiment"] > 0
    assert sentiment({"text": "not good"})["sentiment"] < 0
    assert sentiment({"text": "molto buono"})["sentiment"] > sentiment({"text": "buono"})["sentiment"] > 0
    assert sentiment({"text": "very bad"})["sentiment"] < sentiment({"text": "bad"})["sentiment"] < 0


@pytest.mark.parametrize(("text", "expected"), [
    ("Grazie!", "it"),
    ("Thanks!", "en"),
    ("Buonissimo", "it"),
    ("Love it", "en"),
    ("Adoro questo caffè ❤️", "it"),
    ("Does the grinder work with espresso?", "en"),
    ("Come si prepara il cold brew?", "it"),
    ("Grazie! My morning cup is a cortado #MyAcmeMorning", "en"),
    ("I love this coffee so much, it's the best I've ever had and the staff at the shop were lovely", "en"),
    ("Ho ordinato due confezioni la settimana scorsa e sono arrivate in perfette condizioni, "
     "il caffè è buonissimo e lo consiglio a tutti", "it"),
    ("Merci beaucoup pour le café, c'est très bon", "other"),
    ("Спасибо за кофе", "other"),
    ("ok", "und"),
    ("👍", "und"),
])
def test_language_of_short_and_long_texts(text: str, expected: str) -> None:
    assert language({"text": text}) == {"language": expected}


def test_hashtags_and_mentions_lower_case_unique_and_unicode() -> None:
    found = tags({"text": "Il mio #Caffè del mattino con @Anna.Brews e @acme_IT #caffè #Espresso2024 #1 "
                          "scrivete a info@acme.it https://acme.it/#promo"})
    assert found == {"hashtags": "caffè espresso2024", "hashtag_count": 2,
                     "mentions": "anna.brews acme_it", "mention_count": 2}
    assert tags({"text": "Buongiorno a tutti"}) == {"hashtag_count": 0, "mention_count": 0}


@pytest.mark.parametrize(("text", "expected"), [
    ("https://acme.com/promo", True),
    ("https://acme.com/a https://acme.com/b !!", True),
    ("#ad https://t.co/xYz123", True),
    ("@bob 👉 bit.ly/3abcD", True),
    ("Guarda qui: https://acme.it/offerte", False),
    ("Check this out https://acme.com/promo", False),
    ("Nessun link in questo commento", False),
])
def test_link_only_posts(text: str, expected: bool) -> None:
    assert link_only({"text": text}) == {"link_only": expected}


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_events_without_text_get_nothing(text: str | None) -> None:
    assert enrich(text) == {}
    assert all(enricher.enrich({"kind": "follow"}) == {} for enricher in ENRICHERS)


def test_fields_are_json_scalars_within_the_enrichment_limits() -> None:
    long_text = " ".join(f"#tag{i:04d} @user{i:04d}" for i in range(400))
    found = enrich(long_text)
    msgspec.convert(found, Enrichment)  # keys <= 64 chars, strings <= 1000 chars, no lists
    assert found["hashtag_count"] == 400 and len(found["hashtags"]) <= 1000
    assert set(enrich("Grazie mille! #caffè @acme https://acme.it")) == {
        "language", "sentiment", "sentiment_label", "thanks", "question", "hashtags", "hashtag_count",
        "mentions", "mention_count", "link_only"}


def test_a_repeated_text_is_analysed_once_and_a_new_one_afresh() -> None:
    first = enrichers.analyse("Grazie mille per l'aiuto!")
    assert enrichers.analyse("Grazie mille per l'aiuto!") is first
    assert enrichers.analyse("Thanks for the help!").language == "en"


def test_registered_as_a_built_in_plugin_under_separate_names() -> None:
    assert "tribeops.plugins.enrichers" in DEFAULT_PLUGINS
    _, registry = create_manager(load="")
    names = {"language", "sentiment", "thanks", "question", "tags", "link_only"}
    assert {name: registry.enrichers[name].plugin for name in names} == dict.fromkeys(
        names, "tribeops.plugins.enrichers")


def test_ingest_stores_the_enrichment_on_the_event(client: TestClient[Any], admin: dict[str, str],
                                                   brand: dict[str, Any]) -> None:
    event_id = f"ig-{uuid.uuid4().hex}"
    event = {"id": event_id, "brand_id": brand["id"], "network": "instagram", "kind": "comment",
             "actor": {"id": "17841400000000001", "handle": "anna.brews"}, "occurred_at": "2026-03-02T08:15:00Z",
             "text": "Grazie mille @acme! Qualcuno sa dove trovare la miscela #Caffè in Toscana?"}
    response = client.post("/v1/events", json={"events": [event]}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    db = client.app.state.tribeops.db

    async def read() -> Any:
        async with db.reading() as conn:
            query = sa.select(t.events.c.enrichment, t.events.c.enrichment_errors).where(
                t.events.c.id == event_id, t.events.c.brand_id == brand["id"])
            return (await conn.execute(query)).one()

    with client.portal() as portal:
        row = portal.call(read)
    assert row.enrichment_errors is None
    ours = {key: row.enrichment[key] for key in ("language", "sentiment_label", "thanks", "question", "hashtags",
                                                 "hashtag_count", "mentions", "mention_count", "link_only")}
    assert ours == {"language": "it", "sentiment_label": "positive", "thanks": True, "question": True,
                    "hashtags": "caffè", "hashtag_count": 1, "mentions": "acme", "mention_count": 1,
                    "link_only": False}
    assert 0 < row.enrichment["sentiment"] <= 1


def test_text_only_enrichers_are_called_for_events_with_text_alone(database_url: str) -> None:
    seen: dict[str, list[str]] = {"reads": [], "counts": []}

    def reads(event: Mapping[str, Any]) -> dict[str, Any]:
        seen["reads"].append(event["id"])
        return {"reads_words": len(event["text"].split())}

    def counts(event: Mapping[str, Any]) -> dict[str, Any]:
        seen["counts"].append(event["id"])
        return {"counts_value": event["value"]}

    extra = plugin("textual", **registering(enrichers=[
        Enricher("reads", "Words of the text", reads, text_only=True), Enricher("counts", "The value", counts)]))

    async def scenario() -> dict[str, dict[str, Any]]:
        runtime = Runtime.create(Settings(database_url=database_url, load_plugins=""), plugins=[extra])
        try:
            async with runtime.db.transaction() as conn:
                caller = await ensure_workspace(conn, f"text-only-{uuid.uuid4().hex[:8]}")
                brand = (await BrandService(conn, caller).create(BrandCreate(name="Acme"))).id
            ev = EventBuilder(brand)
            items = [ev.comment(text="Grazie mille, buonissimo"), ev.like(), ev.comment(text="   "),
                     ev.event("post", text="Two words")]
            batch = await ingest_batch(runtime.db, runtime.registry, caller, items)
            assert batch.result.accepted == 4
            async with runtime.db.reading() as conn:
                rows = (await conn.execute(sa.select(t.events.c.id, t.events.c.enrichment, t.events.c.enrichment_errors)
                                           .where(t.events.c.brand_id == brand))).all()
            assert all(row.enrichment_errors is None for row in rows)
            return {item["id"]: next(r.enrichment for r in rows if r.id == item["id"]) for item in items}
        finally:
            await runtime.close()

    enrichment = asyncio.run(scenario())
    with_text = [event_id for event_id, found in enrichment.items() if "reads_words" in found]
    assert sorted(seen["reads"]) == sorted(with_text) and len(with_text) == 2  # not the like, not the blank text
    assert len(seen["counts"]) == 4 and all(found["counts_value"] == 1 for found in enrichment.values())
    assert sorted(found.get("reads_words") for found in enrichment.values() if "reads_words" in found) == [2, 3]
    # The built-ins are text-only too: the like has none of their fields.
    assert all(enricher.text_only for enricher in ENRICHERS)
