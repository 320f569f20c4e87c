"""/v1/members and tribe membership (/v1/tribes/{id}/members)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromQuery

from tribeops.core.schemas.common import Network, Page
from tribeops.core.schemas.members import Member, MergeRequest, TribeMemberAdd, TribeMembership
from tribeops.core.services.members import MemberService

from ..auth import CallerDep
from ..docs import READ_ERRORS, WRITE_ERRORS, IdFilter, IdParam, Limit, StartingAfter, body, problems
from ..state import Runtime

MemberIdParam = Annotated[str, IdParam]


class MemberController(Controller):
    path = "/members"
    tags = ["Members"]

    @get(operation_id="listMembers", summary="List members", responses=problems(*READ_ERRORS))
    async def list_members(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                           starting_after: StartingAfter = None, brand_id: Annotated[str | None, IdFilter] = None,
                           tribe_id: Annotated[str | None, IdFilter] = None,
                           network: FromQuery[Network | None] = None) -> Page[Member]:
        """People across networks: members with events of a brand, in a tribe, or seen on a network."""
        async with runtime.db.reading() as conn:
            return await MemberService(conn, caller).list(limit=limit, starting_after=starting_after,
                                                          brand_id=brand_id, tribe_id=tribe_id, network=network)

    @get("/{member_id:str}", operation_id="getMember", summary="Get a member", responses=problems(*READ_ERRORS))
    async def get_member(self, runtime: Runtime, caller: CallerDep, member_id: MemberIdParam) -> Member:
        """Identities on each network, tribes, and a summary of activity."""
        async with runtime.db.reading() as conn:
            return await MemberService(conn, caller).get(member_id)

    @post("/{member_id:str}/merge", operation_id="mergeMember", summary="Merge another member into this one",
          opt={"scope": "write"}, status_code=200, responses=problems(*WRITE_ERRORS))
    async def merge_member(self, runtime: Runtime, caller: CallerDep, member_id: MemberIdParam,
                           data: Annotated[MergeRequest, body({"member_id": "mbr_01JD0000000000000000000001"},
                                                              "The member to merge into this one.")]) -> Member:
        """Two identities of one person become one member: identities, events and tribes move over.
        Their past events are recounted in the same transaction, so the scorecards show the merge
        at once; past 10,000 events (or while an aggregation of the brand is running, on
        PostgreSQL) the brand is rebuilt shortly after instead, and its scorecards answer
        `pending: true` until then."""
        async with runtime.db.transaction() as conn:
            return await MemberService(conn, caller).merge(member_id, data.member_id)


class TribeMemberController(Controller):
    path = "/tribes/{tribe_id:str}/members"
    tags = ["Tribes"]

    @post(operation_id="addTribeMember", summary="Add a member to a tribe", opt={"scope": "write"},
          status_code=200, responses=problems(*WRITE_ERRORS))
    async def add_tribe_member(self, runtime: Runtime, caller: CallerDep, tribe_id: Annotated[str, IdParam],
                               data: Annotated[TribeMemberAdd, body({"member_id": "mbr_01JD0000000000000000000000"},
                                                                    "The member to add.")]) -> TribeMembership:
        """The member joins the tribe by hand (lifting an earlier removal). Their past events count
        for the tribe at once (recounted as for a merge)."""
        async with runtime.db.transaction() as conn:
            return await MemberService(conn, caller).add_to_tribe(tribe_id, data.member_id)

    @delete("/{member_id:str}", operation_id="removeTribeMember", summary="Remove a member from a tribe",
            opt={"scope": "write"}, responses=problems(*READ_ERRORS))
    async def remove_tribe_member(self, runtime: Runtime, caller: CallerDep, tribe_id: Annotated[str, IdParam],
                                  member_id: MemberIdParam) -> None:
        """The member leaves the tribe and the tribe's rules will not add them back. Their past
        events stop counting for the tribe at once (recounted as for a merge)."""
        async with runtime.db.transaction() as conn:
            await MemberService(conn, caller).remove_from_tribe(tribe_id, member_id)
