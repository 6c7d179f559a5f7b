"""``loopal-ipy`` console script (the enable/disable part arrives with durable jobs)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(f"loopal-ipy: {' '.join(args) or '(no command)'}: commands arrive with durable jobs", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
