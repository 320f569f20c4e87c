"""The demo dataset: one brand, three tribes, a push and a pull campaign, tens of thousands of events.

The push campaign (June) is a megaphone: the brand posts a lot, members like, share and
repost the kit message word for word. The pull campaign (September) is a conversation:
members start threads, ask and answer each other, thank, and keep talking after it ends.
Their scorecards tell seed 000's story on their own. Seeded: the same data every time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from .schemas.brands import BrandCreate
from .schemas.campaigns import CampaignCreate
from .schemas.tribes import TribeCreate
from .services.brands import BrandService
from .services.campaigns import CampaignService
from .services.context import Caller
from .services.tribes import TribeService

NETWORKS = ("instagram", "x", "facebook")
HANDLES = {"instagram": "acme.coffee", "x": "acmecoffee", "facebook": "acmecoffee"}
PUSH_KIT = "Summer Blend is here! Cold, smooth, bold. Get yours today #AcmeSummer"
PULL_KIT = "Show us your morning cup with #MyAcmeMorning"
OWN_POSTS = ["My morning cup: a cortado on the balcony #MyAcmeMorning", "Il mio caffè del mattino, moka e silenzio",
             "Tried a slow pour over today, so good", "Latte art attempt number 12, getting there!",
             "Cold brew steeping overnight, can't wait", "Prima tazza della giornata con mia nonna ☕"]
QUESTIONS = ["How fine should I grind for a moka pot?", "Come si fa il cold brew in casa?",
             "Which beans work best for espresso at home?", "Qualcuno sa dove trovare la Summer Blend a Milano?",
             "How long do you steep cold brew?", "Does the grinder work for pour over?"]
ANSWERS = ["Medium-fine, like table salt. Works great for me", "Io lo lascio 16 ore in frigo, perfetto",
           "Try the Bold Roast, it makes a thick crema", "At the shop on Via Roma, they had it yesterday",
           "12 to 18 hours, then filter twice", "Yes, set it to 22 clicks for pour over"]
THANKS = ["Thank you so much, that helped!", "Grazie mille, proverò subito!", "Thanks, works perfectly",
          "Grazie! Gentilissimo"]
COMMENTS = ["Love this!", "Looks delicious", "Che buono!", "Can't wait to try it", "Adoro questo caffè ❤️",
            "Great photo", "Wow, amazing colours"]
BRAND_REPLIES = ["Thanks for sharing! ☕", "Grazie a te!", "So glad you like it", "Great tip, thank you!"]


class _Gen:
    def __init__(self, brand_id: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.brand_id = brand_id
        self.count = 0

    def event(self, kind: str, actor: str, at: datetime, campaign: str | None, network: str, *,
              to: str | None = None, text: str | None = None, value: float = 1) -> dict[str, Any]:
        self.count += 1
        eid = f"demo-{self.brand_id[-8:]}-{self.count}"  # a rerun makes a new brand with its own events
        handle = HANDLES[network] if actor == "brand" else actor
        event: dict[str, Any] = {
            "id": eid, "brand_id": self.brand_id, "network": network, "kind": kind, "post_id": eid,
            "actor": {"id": f"{network}:{handle}", "handle": handle} if actor == "brand" else self.profile(actor, network),
            "occurred_at": at.isoformat(), "value": value,
        }
        if campaign:
            event["campaign_id"] = campaign
        if to:
            event["in_reply_to"] = to
        if text:
            event["text"] = text
        return event

    def profile(self, handle: str, network: str) -> dict[str, Any]:
        n = int(handle[1:])
        return {"id": f"{network}:{n}", "handle": handle, "followers": (n * 37) % 2000, "following": (n * 13) % 900,
                "posts": (n * 7) % 400, "bio": "home barista" if n % 5 == 0 else "coffee lover"}

    def member(self, pool: int) -> str:
        return f"m{self.rng.randrange(pool)}"


def _slots(g: _Gen, days: int, scale: float) -> Iterator[tuple[int, str]]:
    """The (day, network) slots of a campaign: all of them from scale 1 up (busier slots beyond),
    a share of them below it, each as busy as at scale 1, so that the campaigns keep their
    shape, and their story, at any scale."""
    for day in range(days):
        for network in NETWORKS:
            if scale >= 1 or g.rng.random() < scale:
                yield day, network


def _push(g: _Gen, campaign: str, start: datetime, days: int, scale: float) -> Iterator[dict[str, Any]]:
    rng = g.rng
    slots, scale = _slots(g, days, scale), max(scale, 1.0)
    for day, network in slots:
        for slot in range(3):
            at = start + timedelta(days=day, hours=9 + slot * 4)
            post = g.event("post", "brand", at, campaign, network, text=PUSH_KIT)
            yield post
            yield g.event("impression", "brand", at, campaign, network, value=rng.randrange(2000, 6000))
            for _ in range(int(60 * scale)):
                yield g.event("like", g.member(3000), at + timedelta(minutes=rng.randrange(600)), campaign,
                              network, to=post["id"])
            for _ in range(int(8 * scale)):  # the megaphone: the kit passed on word for word, often paid
                copy = PUSH_KIT if rng.random() < 0.5 else PUSH_KIT + " #ad"
                yield g.event("share", g.member(3000), at + timedelta(minutes=rng.randrange(600)), campaign,
                              network, to=post["id"], text=copy)
            if rng.random() < 0.6:
                yield g.event("post", g.member(3000), at + timedelta(minutes=rng.randrange(900)), campaign,
                              network, text=PUSH_KIT + " #ad")
            if rng.random() < 0.5:
                yield g.event("comment", g.member(3000), at + timedelta(minutes=30), campaign, network,
                              to=post["id"], text=rng.choice(COMMENTS))
        yield g.event("post", g.member(3000), start + timedelta(days=day, hours=20), campaign, network,
                      text=rng.choice(OWN_POSTS))
        asked = start + timedelta(days=day, hours=14)  # questions go to the brand, which answers
        question = g.event("question", g.member(3000), asked, campaign, network,
                           text="Where can I buy the Summer Blend?")
        yield question
        if rng.random() < 0.1:
            yield g.event("answer", g.member(3000), asked + timedelta(minutes=20), campaign, network,
                          to=question["id"], text="In every Acme shop")
        yield g.event("reply", "brand", asked + timedelta(minutes=45), campaign, network, to=question["id"],
                      text="In all Acme shops and online!")


def _pull(g: _Gen, campaign: str, start: datetime, days: int, scale: float) -> Iterator[dict[str, Any]]:
    rng = g.rng
    slots, scale = _slots(g, days + 21, scale), max(scale, 1.0)  # three weeks after the end: the talk goes on
    for day, network in slots:
        after = day >= days
        base = start + timedelta(days=day, hours=8)
        if not after:
            post = g.event("post", "brand", base, campaign, network, text="What does your morning cup look like?")
            yield post
            yield g.event("impression", "brand", base, campaign, network, value=rng.randrange(800, 2000))
            for _ in range(int(12 * scale)):
                yield g.event("like", g.member(1500), base + timedelta(minutes=rng.randrange(600)), campaign,
                              network, to=post["id"])
            for i in range(int(6 * scale)):
                comment = g.event("comment", g.member(1500), base + timedelta(minutes=10 + i * 7), campaign,
                                  network, to=post["id"], text=rng.choice(COMMENTS + OWN_POSTS))
                yield comment
                if rng.random() < 0.5:
                    yield g.event("reply", "brand", base + timedelta(minutes=40 + i * 7), campaign, network,
                                  to=comment["id"], text=rng.choice(BRAND_REPLIES))
            yield g.event("share", g.member(1500), base + timedelta(hours=3), campaign, network, to=post["id"])
        for t in range(int((4 if not after else 1) * scale)):  # members start their own threads
            at = base + timedelta(hours=1 + t)
            kind, text = ("question", rng.choice(QUESTIONS)) if rng.random() < 0.45 else ("post", rng.choice(OWN_POSTS))
            if rng.random() < 0.05:
                text = PULL_KIT
            asker = g.member(1500)
            thread = g.event(kind, asker, at, campaign, network, text=text)
            yield thread
            if kind == "question":
                helper = f"m{rng.randrange(2000, 2040)}"  # a core of regulars answers most questions
                by_member = rng.random() < 0.75
                if by_member:
                    answer = g.event("answer", helper, at + timedelta(minutes=12), campaign, network,
                                     to=thread["id"], text=rng.choice(ANSWERS))
                    yield answer
                    yield g.event("comment", asker, at + timedelta(minutes=30), campaign, network,
                                  to=answer["id"], text=rng.choice(THANKS))
                if rng.random() < 0.5 or not by_member:
                    yield g.event("reply", "brand", at + timedelta(minutes=25 if by_member else 15), campaign,
                                  network, to=thread["id"], text=rng.choice(BRAND_REPLIES))
            else:
                for r in range(rng.randrange(1, 4)):
                    yield g.event("reply", g.member(1500), at + timedelta(minutes=5 + 9 * r), campaign, network,
                                  to=thread["id"], text=rng.choice(COMMENTS))
                for _ in range(rng.randrange(2, 9)):
                    yield g.event("like", g.member(1500), at + timedelta(minutes=rng.randrange(300)), campaign,
                                  network, to=thread["id"])


async def create_brand(conn: Any, caller: Caller) -> tuple[str, str, str, list[str]]:
    """The demo brand, its tribes and its two campaigns: (brand, push, pull, tribe ids)."""
    brand = await BrandService(conn, caller).create(msgspec.convert({
        "name": "Acme Coffee (demo)", "handles": dict(HANDLES),
        "identity": {"values": ["craft", "community"], "keywords": ["espresso", "moka"], "tone": "warm",
                     "owned_topics": ["home brewing"], "avoided_topics": ["politics"]}}, BrandCreate))
    tribes = []
    for name, kind, rules in (("Home baristas", "customers", {"hashtags": ["MyAcmeMorning"], "keywords": ["moka", "pour over"]}),
                              ("Acme crew", "employees", {"handles": ["m7", "m11", "m42"]}),
                              ("Summer fans", "fans", {"hashtags": ["AcmeSummer"]})):
        tribe = await TribeService(conn, caller).create(msgspec.convert(
            {"brand_id": brand.id, "name": name, "kind": kind, "rules": rules,
             "strategy": {"mode": "pull" if kind == "customers" else "push"}}, TribeCreate))
        tribes.append(tribe.id)
    push = await CampaignService(conn, caller).create(msgspec.convert({
        "brand_id": brand.id, "name": "Summer Blend launch", "mode": "push", "kit_message": PUSH_KIT,
        "hashtags": ["AcmeSummer"], "networks": list(NETWORKS), "status": "ended",
        "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-29T00:00:00Z",
        "brief": {"what": "Announce the Summer Blend", "to_whom": [tribes[2]], "why": "Reach",
                  "how": "Post often, ask fans to repost the kit"},
        "targets": [{"metric": "impressions", "comparison": "gte", "value": 500000}]}, CampaignCreate))
    pull = await CampaignService(conn, caller).create(msgspec.convert({
        "brand_id": brand.id, "name": "Share your morning cup", "mode": "pull", "kit_message": PULL_KIT,
        "hashtags": ["MyAcmeMorning"], "networks": list(NETWORKS), "status": "ended",
        "starts_at": "2026-09-01T00:00:00Z", "ends_at": "2026-09-29T00:00:00Z",
        "brief": {"what": "Members show how they brew", "to_whom": [tribes[0]], "why": "Relationship",
                  "how": "Ask, answer, thank; let members carry it"},
        "targets": [{"metric": "conversation_rate", "comparison": "gte", "value": 3},
                    {"metric": "community_care_share", "comparison": "gte", "value": 0.5}]}, CampaignCreate))
    return brand.id, push.id, pull.id, tribes


def events(brand_id: str, push: str, pull: str, scale: float = 1.0, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """Every demo event, in time order within each campaign."""
    g = _Gen(brand_id, seed)
    yield from _push(g, push, datetime(2026, 6, 1, tzinfo=timezone.utc), 28, scale)
    yield from _pull(g, pull, datetime(2026, 9, 1, tzinfo=timezone.utc), 28, scale)
