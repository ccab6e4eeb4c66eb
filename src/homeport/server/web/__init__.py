"""The web dashboard: server-rendered pages for the people a homeport server serves.

Mounted at ``/dash/`` on the server's HTTP app; see :mod:`.pages` for its security rules.
"""

from homeport.server.web.pages import build_dashboard

__all__ = ["build_dashboard"]
