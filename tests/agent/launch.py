"""``python -m tests.agent.launch ARGS``: the homeport CLI with the test stand-ins.

Light on purpose: the stand-ins (pydantic, providers) are installed where the
real code would import them — in the cycle's child for the daemon — so the
daemon's parent stays as small here as in production (the footprint bench).
"""

from __future__ import annotations

import sys


def _install() -> None:
    from tests.agent.standin import install

    install()


def main() -> None:
    args = sys.argv[1:]
    if args[:2] == ["agent", "run"] and not {"--once", "--dry-run"} & set(args):
        import homeport.agent.supervisor as supervisor

        original = supervisor.child_cycle

        def child_cycle(*a: object, **k: object) -> dict[str, object]:
            _install()
            return original(*a, **k)  # type: ignore[arg-type]

        supervisor.child_cycle = child_cycle  # type: ignore[assignment]
    else:
        _install()
    from homeport.cli import main as cli_main

    sys.argv[0] = "homeport"
    cli_main(args)


if __name__ == "__main__":
    main()
