"""The README's tables of aiapp:* keys, written from the models: `python -m infra.config` rewrites them in
README.md (`make docs`); `--check` fails when the README differs (tests/infra/test_config_docs.py runs it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from infra.config import Settings
from infra.config.devops import PipelinesSettings
from infra.config.keys import Section, allowed_values, bounds, meta, sections_of, shape_of, tag_of

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- the tables below are written by `make docs` (python -m infra.config) from infra/config/ -->"
END = "<!-- end of the generated tables -->"
HEADER = "| key | default | allowed | what it does |\n|---|---|---|---|"


def _code(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, list | tuple | dict) else str(value)
    return f"`{text.lower() if isinstance(value, bool) else text}`"


def _row(section: type[Section], field: FieldInfo, allowed: tuple[str, ...] = ()) -> str:
    if meta(field, "default_doc"):
        default = meta(field, "default_doc")
    elif field.is_required():
        default = f"required{section.WHEN.replace(' aiapp:', ' ')}"
    else:
        value = field.get_default()
        default = (
            "none"
            if value is None
            else _code(tag_of(type(value))[1] if isinstance(value, Section) else value)
        )
    allowed = allowed or allowed_values(field.annotation)
    shape, (low, high) = shape_of(field), bounds(field)
    if meta(field, "secret"):
        kind = "a secret: `pulumi config set --secret`"
    elif allowed:
        kind = ", ".join(f"`{v}`" for v in allowed)
    elif low is not None:
        kind = f"{low}..{high}"
    else:
        kind = shape.text if shape and shape.text else "text"
    return f"| `{field.alias}` | {default} | {kind} | {field.description} |"


def rows(model: type[Section]) -> list[str]:
    """One row per key, in declaration order; a union's tag once, then each variant's keys."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        variants = sections_of(field.annotation)
        if len(variants) > 1:
            out.append(_row(model, field, allowed_values(field.annotation)))
            for variant in variants:
                out += [line for line in rows(variant) if not line.startswith(f"| `{field.alias}` ")]
        elif variants and model is Settings and variants[0] is PipelinesSettings:
            continue  # a table of its own
        elif variants:
            out += rows(variants[0])
        elif field.alias is not None and name != "kind":
            out.append(_row(model, field))
    return out


def tables() -> str:
    return (
        f"{BEGIN}\n\n{HEADER}\n"
        + "\n".join(rows(Settings))
        + "\n\nThe Azure DevOps keys (only with `pipelinesEnabled`, which also needs `modelStoreUrl`, the "
        + "store the release resolves the model in; setting one without it is an error):\n\n"
        + f"{HEADER}\n"
        + "\n".join(rows(PipelinesSettings))
        + f"\n\n{END}"
    )


def main(argv: list[str]) -> int:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    written = text[:start] + tables() + text[end:]
    if "--check" in argv:
        if written != text:
            print(
                "README.md's tables of aiapp:* keys differ from infra/config/: run `make docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
