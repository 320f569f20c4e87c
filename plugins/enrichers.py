"""Built-in enrichers: language, sentiment, thanks, question, hashtags/mentions and link-only posts.

Why built in: relationship metrics (thank-you rate, questions answered, tone) need these
fields on every event, and brand teams work in English and Italian first. Why offline and
lexicon based: ingest is a hot path and must not download models or call services, and a
word list anyone can read explains every score. The lexicons live in ``plugins/data``.

Speed: every regex is compiled and every lexicon loaded once, at import. Ingest calls the
enrichers one after another on the same event, so the text is analysed once and the
analysis kept for the last text seen; the other enrichers reuse it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache, wraps
from importlib import resources
from typing import Any

from tribeops.core.plugin_api import Enricher, Register, hookimpl

NEG = -1.0
"""Modifier value of a negator ("not", "non"): it flips the words after it."""
NEGATION_SCOPE = 3
"""How many words a negator reaches: "non mi piace" flips "piace", two words on."""
LABEL_THRESHOLD = 0.25
MAX_FIELD = 1000  # the longest string an enrichment value may be


def _read(name: str) -> Iterator[tuple[str, str]]:
    """The (word, value) lines of a data file; comments and blank lines skipped."""
    text = (resources.files(__name__.rpartition(".")[0]) / "data" / name).read_text("utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, value = line.partition("\t")
            yield word.strip(), value.strip()


def _weights(name: str) -> dict[str, float]:
    return {word: float(value or 1) for word, value in _read(name)}


def _lexicon(*names: str) -> tuple[dict[str, float], dict[str, float]]:
    """Whole words and stems (entries ending in ``*``) of the sentiment files, later files winning."""
    words: dict[str, float] = {}
    stems: dict[str, float] = {}
    for name in names:
        for word, value in _read(name):
            (stems if word.endswith("*") else words)[word.rstrip("*")] = float(value)
    return words, stems


def _modifiers(name: str) -> dict[str, float]:
    return {word: NEG if value == "neg" else float(value) for word, value in _read(name)}


STOP_EN, STOP_IT, STOP_OTHER = _weights("stopwords_en.txt"), _weights("stopwords_it.txt"), \
    _weights("stopwords_other.txt")
LEXICONS = {
    "en": _lexicon("sentiment_emoji.txt", "sentiment_en.txt"),
    "it": _lexicon("sentiment_emoji.txt", "sentiment_it.txt"),
    "und": _lexicon("sentiment_emoji.txt", "sentiment_it.txt", "sentiment_en.txt"),
}
MODIFIERS = {"en": _modifiers("modifiers_en.txt"), "it": _modifiers("modifiers_it.txt")}
MODIFIERS["und"] = {**MODIFIERS["it"], **MODIFIERS["en"]}


def _trigram_weights() -> dict[str, float]:
    """Log-odds English vs Italian of each letter trigram, learnt from the words of the data files.

    This scores words no list holds ("prepara", "grinder") by their spelling: Italian words
    end in vowels and double their consonants, English ones end in "-ed", "-ng", "th".
    Stems are padded on the left only, as their ending is open.
    """
    counts: dict[str, list[int]] = {}
    totals = [0, 0]
    for side, lang, stop in ((0, "en", STOP_EN), (1, "it", STOP_IT)):
        words, stems = LEXICONS[lang]
        padded = [f" {w} " for w in (*stop, *words, *MODIFIERS[lang])] + [f" {s}" for s in stems]
        for word in padded:
            if not word[1].isalpha() or "'" in word:
                continue
            for i in range(len(word) - 2):
                counts.setdefault(word[i:i + 3], [0, 0])[side] += 1
                totals[side] += 1
    weights = {}
    for gram, (en, it) in counts.items():
        weight = math.log((en + 0.5) / totals[0]) - math.log((it + 0.5) / totals[1])
        if en + it >= 2 and abs(weight) >= 0.7:
            weights[gram] = max(-3.0, min(3.0, weight))
    return weights


TRIGRAMS = _trigram_weights()


def _evidence() -> dict[str, tuple[float, float, float]]:
    """Per word, how much it says English, Italian or another language: function words, then
    sentiment words found in one language's lexicon only ("good", "pessimo")."""
    table: dict[str, list[float]] = {}
    for column, weights in enumerate((STOP_EN, STOP_IT, STOP_OTHER)):
        for word, weight in weights.items():
            table.setdefault(word, [0.0, 0.0, 0.0])[column] = weight
    en_words, it_words = LEXICONS["en"][0], LEXICONS["it"][0]
    for column, own, theirs in ((0, en_words, it_words), (1, it_words, en_words)):
        for word in own:
            if word[0].isalpha() and word not in theirs and word not in table:
                table[word] = [1.0 if column == 0 else 0.0, 1.0 if column == 1 else 0.0, 0.0]
    return {word: (en, it, other) for word, (en, it, other) in table.items()}


EVIDENCE = _evidence()
ACCENTED_IT = frozenset("àèìòù")

URL = re.compile(r"(?:https?://|www\.)\S+|\b(?:[\w-]+\.)+(?:com|it|net|org|io|co|ly|eu|uk|me|app|shop|store|info|gl|be)"
                 r"\b(?:/\S*)?")
HASHTAG = re.compile(r"(?<![\w&/#])#(\w*[^\W\d_]\w*)")
MENTION = re.compile(r"(?<![\w.@])@(\w(?:[\w.]*\w)?)")
TAGS = re.compile(r"(?<![\w&/#])#\w+|(?<![\w.@])@\w(?:[\w.]*\w)?")
TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|:-?\){1,2}|:-?[dp]\b|;-?\)|<3|:'?-?\({1,2}|[.,;:!?]+"
                   r"|[\u2600-\u27bf\u2b50\u2b55\U0001f300-\U0001faff]")
CONTENT = re.compile(r"[^\W_]")
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})
EN_SUFFIXES = frozenset({"s", "re", "ve", "ll", "d", "m", "t"})
PUNCT = frozenset(".,;:!?")


@dataclass(frozen=True, slots=True)
class Doc:
    """One text, analysed once for all the enrichers."""

    source: str
    nourl: str  # NFC, lower case, straight apostrophes, URLs blanked
    clean: str  # ``nourl`` without hashtags and mentions
    links: int
    tokens: tuple[str, ...]
    language: str


_last: Doc | None = None


def analyse(text: str) -> Doc:
    """The shared analysis of ``text``; the last one is reused, as ingest asks six times in a row."""
    global _last
    last = _last
    if last is not None and (last.source is text or last.source == text):
        return last
    norm = text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
    lower = norm.lower()
    if "\u2019" in lower or "\u2018" in lower or "`" in lower or "\u00b4" in lower:
        lower = lower.translate(APOSTROPHES)
    nourl, links = URL.subn(" ", lower) if "." in lower else (lower, 0)  # every URL form has a dot
    clean = TAGS.sub(" ", nourl) if "#" in nourl or "@" in nourl else nourl
    tokens: list[str] = []
    for token in TOKEN.findall(clean):
        if "'" in token and token not in STOP_EN and token not in STOP_OTHER:
            left, _, right = token.partition("'")
            tokens.extend((left, "'" + right) if right in EN_SUFFIXES else (left + "'", right))
        else:
            tokens.append(token)
    doc = Doc(text, nourl, clean, links, tuple(tokens), _detect(tokens))
    _last = doc
    return doc


@lru_cache(maxsize=1 << 15)
def _spelling(word: str) -> float:
    """How English (> 0) or Italian (< 0) a word looks, from its trigrams and accents."""
    padded = f" {word} "
    score = sum(TRIGRAMS.get(padded[i:i + 3], 0.0) for i in range(len(padded) - 2))
    if not ACCENTED_IT.isdisjoint(word):
        score -= 3.0
    return max(-2.0, min(2.0, score * 0.25))


def _detect(tokens: list[str]) -> str:
    """``en``, ``it``, ``other`` (another language), or ``und`` when the evidence is too thin.

    Function words weigh most; spelling decides what they leave open. One word such as
    "ok" or "wow" stays ``und`` rather than being guessed.
    """
    en = it = other = spelling = 0.0
    words = foreign = 0
    for token in tokens:
        first = token[0]
        if not (first.isalpha() or first == "'"):
            continue
        words += 1
        if first > "\u024f":
            foreign += 1
            continue
        evidence = EVIDENCE.get(token)
        if evidence is not None:
            en, it, other = en + evidence[0], it + evidence[1], other + evidence[2]
        elif len(token) > 2:
            spelling += _spelling(token)
    if not words:
        return "und"
    if foreign * 2 > words or (other >= 1.5 and other > en and other > it):
        return "other"
    score = en - it + spelling
    return "en" if score >= 1.0 else "it" if score <= -1.0 else "und"


def _on_text(derive: Callable[[Doc], dict[str, Any]]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """An enrich function: ``{}`` at once for events without text, else ``derive`` of its analysis.
    (Ingest skips the built-ins for those events, as they are ``text_only``; called directly,
    they still answer.)"""
    @wraps(derive)
    def enrich(event: Mapping[str, Any]) -> dict[str, Any]:
        text = event.get("text")
        return derive(analyse(text)) if isinstance(text, str) and text and not text.isspace() else {}
    return enrich


@_on_text
def language(doc: Doc) -> dict[str, Any]:
    return {"language": doc.language}


@lru_cache(maxsize=1 << 15)
def _stem(lang: str, word: str) -> float | None:
    """The score of the longest stem (4 letters or more) that ``word`` starts with, if any."""
    stems = LEXICONS[lang][1]
    for end in range(len(word), 3, -1):
        if (score := stems.get(word[:end])) is not None:
            return score
    return None


@_on_text
def sentiment(doc: Doc) -> dict[str, Any]:
    """A score in [-1, 1] and its label, from the lexicon of the text's language.

    Negators flip (and halve) the next few sentiment words, so "not bad" reads mildly
    positive and "non mi piace" negative; intensifiers scale the next one; punctuation ends
    a negation; exclamation marks strengthen the whole. Texts in other languages get none.
    """
    if doc.language == "other":
        return {}
    lang = doc.language
    words, modifiers = LEXICONS[lang][0], MODIFIERS[lang]
    total, scope, boost, exclaim = 0.0, 0, 1.0, 0
    for token in doc.tokens:
        score = words.get(token)
        if score is None and len(token) > 3 and token[0].isalpha():
            score = _stem(lang, token)
        if score is not None:
            value = score * boost
            total += -0.5 * value if scope else value
            boost = 1.0
        elif (modifier := modifiers.get(token)) is not None:
            if modifier == NEG:
                scope = NEGATION_SCOPE
            else:
                boost *= modifier
            continue
        elif token.endswith("n't"):
            scope = NEGATION_SCOPE
            continue
        elif token[0] in PUNCT:
            exclaim += token.count("!")
            scope, boost = 0, 1.0
            continue
        else:
            boost = 1.0
        if scope:
            scope -= 1
    total *= 1.0 + 0.1 * min(exclaim, 3)
    value = round(total / math.sqrt(total * total + 6.0), 3)
    label = "positive" if value >= LABEL_THRESHOLD else "negative" if value <= -LABEL_THRESHOLD else "neutral"
    return {"sentiment": value, "sentiment_label": label}


NOT_THANKS = re.compile(r"\bthanks,?\s+but\s+no\s+thanks\b|\bno[\s,.!]+(?:thanks|thank\s+you|thx|ty|grazie)\b"
                        r"|\b(?:thanks|thank\s+you|grazie)\s+(?:for\s+nothing|per\s+niente|per\s+nulla|al\s+cavolo)\b")
THANKS = re.compile(r"\b(?:thank(?!sgiving|less)\w*|thx|thnx|thanx|tnx|ty|tysm|tyvm|(?:much|really|greatly|truly)\s+"
                    r"appreciated|appreciate\s+(?:it|you|that|this|your|all)|grateful|grazi+e+|ringrazi\w*"
                    r"|grat[oai]|riconoscent[ei])\b")


@_on_text
def thanks(doc: Doc) -> dict[str, Any]:
    """Gratitude in English or Italian; a declining "no thanks" / "no grazie" is not gratitude."""
    clean = doc.clean
    if THANKS.search(clean) is None:
        return {"thanks": False}
    return {"thanks": THANKS.search(NOT_THANKS.sub(" ", clean)) is not None}


SENTENCE = re.compile(r"([^.!?\n]+)([.!?]*)")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def _question_words() -> dict[str, frozenset[str]]:
    roles: dict[str, set[str]] = {}
    for word, role in _read("questions.txt"):
        roles.setdefault(role, set()).add(word)
    return {role: frozenset(words) for role, words in roles.items()}


Q = _question_words()
PAIRS = frozenset(tuple(pair.split(" ", 1)) for pair in Q["pair"])
def _alternation(phrases: frozenset[str]) -> str:
    """A regex matching any of ``phrases``, grouped by first word, as ``re`` does not factor them."""
    if "" in phrases:
        return "(?:%s)?" % _alternation(phrases - {""}) if len(phrases) > 1 else ""
    groups: dict[str, set[str]] = {}
    for phrase in phrases:
        first, _, rest = phrase.partition(" ")
        groups.setdefault(first, set()).add(rest)
    return "(?:%s)" % "|".join(re.escape(first) + (r"\s+" + _alternation(frozenset(rests)) if rests != {""} else "")
                               for first, rests in sorted(groups.items(), key=lambda item: -len(item[0])))


ASKING = re.compile(r"\b%s\b" % _alternation(Q["phrase"]))
ASKING_FIRST = frozenset(phrase.partition(" ")[0] for phrase in Q["phrase"])  # a cheap test before the regex


def _asks(words: list[str]) -> bool:
    """Whether a sentence opening like ``words`` (its first three words) asks something."""
    if words and words[0] in Q["filler"]:
        words = words[1:]
    if not words:
        return False
    first, second = words[0], words[1] if len(words) > 1 else ""
    if first in Q["asks"] or (first, second) in PAIRS:
        return True
    if first in Q["wh"]:
        return second not in Q["not_after_wh"]
    if first in Q["aux"]:
        return second in Q["subject"]
    return first == "come" and second in Q["come"]


@_on_text
def question(doc: Doc) -> dict[str, Any]:
    """A question mark, an asking phrase ("does anyone know", "qualcuno sa"), or a sentence that
    opens like a question ("how do I", "come si", "dove"), unless it ends with "!"."""
    clean = doc.clean
    if "?" in clean or "¿" in clean or (not ASKING_FIRST.isdisjoint(doc.tokens) and ASKING.search(clean)):
        return {"question": True}
    asks = any("!" not in end and _asks(WORD.findall(part, 0, 80)[:3]) for part, end in SENTENCE.findall(clean))
    return {"question": asks}


def _joined(items: list[str]) -> str:
    text = " ".join(items)
    return text if len(text) <= MAX_FIELD else text[:text.rfind(" ", 0, MAX_FIELD + 1)]


@_on_text
def tags(doc: Doc) -> dict[str, Any]:
    """Hashtags (without ``#``) and mentions (without ``@``), lower case, each once, in order."""
    nourl = doc.nourl
    hashtags = list(dict.fromkeys(HASHTAG.findall(nourl))) if "#" in nourl else []
    mentions = list(dict.fromkeys(MENTION.findall(nourl))) if "@" in nourl else []
    found: dict[str, Any] = {"hashtag_count": len(hashtags), "mention_count": len(mentions)}
    if hashtags:
        found["hashtags"] = _joined(hashtags)
    if mentions:
        found["mentions"] = _joined(mentions)
    return found


@_on_text
def link_only(doc: Doc) -> dict[str, Any]:
    """True when the text is links and nothing else that has letters or digits (tags, emoji and
    punctuation aside): a share with no words of its own."""
    return {"link_only": bool(doc.links) and CONTENT.search(doc.clean) is None}


# Each reads the text alone: ingest skips them for events without one.
ENRICHERS = tuple(replace(e, text_only=True) for e in (
    Enricher("language", "The text's language: en, it, other, or und when unsure (stopwords and spelling).",
             language, {"language": "en, it, other or und"}),
    Enricher("sentiment", "Lexicon sentiment of English and Italian texts, with negation, intensifiers and emoji.",
             sentiment, {"sentiment": "score from -1 to 1", "sentiment_label": "positive, neutral or negative"}),
    Enricher("thanks", "Whether the text thanks someone (thanks, thank you, grazie, ti ringrazio; not 'no thanks').",
             thanks, {"thanks": "true when the text expresses gratitude"}),
    Enricher("question", "Whether the text asks a question, with or without a question mark (English, Italian).",
             question, {"question": "true when the text asks something"}),
    Enricher("tags", "Hashtags and mentions of the text, lower case, space separated, with their counts.",
             tags, {"hashtags": "tags without #, space separated", "hashtag_count": "distinct hashtags",
                    "mentions": "handles without @, space separated", "mention_count": "distinct mentions"}),
    Enricher("link_only", "Whether the text is only links (with hashtags, mentions, emoji or punctuation).",
             link_only, {"link_only": "true when the text has links and no words of its own"}),
))


@hookimpl
def register_enrichers(register: Register[Enricher]) -> None:
    """Register the six built-in enrichers, each under its own name so each can be told apart."""
    for enricher in ENRICHERS:
        register(enricher)
