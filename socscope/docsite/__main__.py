"""``python -m socscope.docsite OUT``: write the generated pages under OUT (to read them without mkdocs)."""
from __future__ import annotations

import sys
from pathlib import Path

from socscope.docsite import generated_pages


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "site-generated")
    for rel, text in generated_pages().items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    print(f"wrote {len(generated_pages())} pages under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
