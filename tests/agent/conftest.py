from __future__ import annotations

from tests.agent.standin import install

install()
