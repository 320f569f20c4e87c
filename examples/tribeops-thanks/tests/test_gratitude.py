"""What counts as thanks: the phrase lists at work, declines and look-alike words included."""

from __future__ import annotations

import pytest

from tribeops_thanks import enrich
from tribeops_thanks.gratitude import DECLINES, THANKS, is_grateful, normalise


@pytest.mark.parametrize("text", [
    "Thanks!", "thank you so much", "THX for the quick answer", "Grazie mille ❤️", "grazie!!", "Vi ringrazio",
    "Muchas gracias", "Merci beaucoup", "Dankeschön", "Vielen Dank!", "Obrigada", "So grateful for this tribe",
    "No thanks. Actually, thank you for replying",
])
def test_gratitude_in_any_of_the_languages_is_flagged(text: str) -> None:
    assert is_grateful(text)


@pytest.mark.parametrize("text", [
    "No, thanks.", "thanks but no thanks", "Thanks for nothing", "no grazie", "Grazie al cavolo",
    "Nein, danke", "Thanksgiving menu is out", "Mercier street store", "Where is my order?", "", None,
])
def test_declines_look_alikes_and_silence_are_not_gratitude(text: str | None) -> None:
    assert not is_grateful(text)


def test_phrase_lists_are_written_the_way_normalise_leaves_text() -> None:
    # A phrase with an accent or capital would never match: normalise() removes both first.
    for phrase in THANKS + DECLINES:
        assert normalise(phrase) == phrase, phrase


def test_normalise_drops_case_accents_punctuation_and_emoji() -> None:
    assert normalise("  GRAZIE, Mille!!! 🙏 ") == "grazie mille"
    assert normalise("Dankeschön — merci") == "dankeschon merci"


def test_the_enricher_adds_one_boolean_field() -> None:
    assert enrich({"kind": "comment", "text": "Grazie!"}) == {"gratitude": True}
    assert enrich({"kind": "like"}) == {"gratitude": False}
