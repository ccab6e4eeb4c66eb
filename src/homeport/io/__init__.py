"""Thin asyncio shells that move bytes between sockets and ``proto``/``core``."""
