"""The request class: checks a JSON body against the route's schema, reporting every bad field."""

from __future__ import annotations

from typing import Any

from litestar import Request

from tribeops.core.errors import ValidationFailed
from tribeops.core.schemas.common import Strict
from tribeops.core.validation import collect_errors


class TribeopsRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        value = await super().json()
        field = self.route_handler.parsed_data_field
        target = field.annotation if field is not None else None
        if isinstance(target, type) and issubclass(target, Strict):
            errors = collect_errors(value, target)
            if errors:
                raise ValidationFailed(errors)
        return value
