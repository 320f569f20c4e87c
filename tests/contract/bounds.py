"""Find strings and arrays without declared bounds in an OpenAPI document."""

from __future__ import annotations

from typing import Any


def unbounded(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            types = node.get("type")
            types = types if isinstance(types, list) else [types]
            if "string" in types and not ({"maxLength", "enum", "const", "format"} & node.keys()):
                found.append(where)
            if "array" in types and "maxItems" not in node:
                found.append(where)
            if "object" in types and isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node:
                found.append(where + " (map)")
            for key, value in node.items():
                if key not in ("examples", "example", "links"):
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(doc.get("components", {}).get("schemas", {}), "#/components/schemas")
    walk(doc.get("paths", {}), "#/paths")
    return found
