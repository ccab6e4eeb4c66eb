"""The argon2 pool in-process (cheap argon2 parameters): bound, dummy hash, recall."""

from __future__ import annotations

import asyncio

import argon2

from homeport.server.auth import PASSWORD_CACHE_SECONDS, PasswordHasher

CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def test_work_beyond_the_pool_and_queue_is_refused_unverified() -> None:
    async def main() -> None:
        hasher = PasswordHasher(workers=1, queue=1, hasher=CHEAP)
        stored = hasher.hash("right")
        results = await asyncio.gather(
            *(hasher.verify("a", stored, f"w{i}", 0.0) for i in range(5))
        )
        # One running and one waiting are verified; the rest are answered at once.
        assert results == [False, False, None, None, None]
        assert hasher.in_flight == 0
        hasher.close()

    asyncio.run(main())


def test_unknown_names_take_the_dummy_hash_and_never_pass() -> None:
    async def main() -> None:
        hasher = PasswordHasher(hasher=CHEAP)
        assert await hasher.verify("nobody", None, "anything", 0.0) is False
        assert hasher._dummy is not None  # made once, with this hasher's parameters
        assert CHEAP.check_needs_rehash(hasher._dummy) is False
        hasher.close()

    asyncio.run(main())


def test_recall_only_the_same_password_for_the_same_hash() -> None:
    async def main() -> None:
        hasher = PasswordHasher(hasher=CHEAP)
        stored = hasher.hash("right")
        assert not hasher.recall("a", stored, "right", 0.0)
        assert await hasher.verify("a", stored, "right", 0.0) is True
        assert hasher.recall("a", stored, "right", 1.0)
        assert not hasher.recall("a", stored, "wrong", 1.0)
        assert not hasher.recall("a", stored, "right", PASSWORD_CACHE_SECONDS + 1)
        # A new password hash (the password was changed) never matches an old proof.
        assert not hasher.recall("a", hasher.hash("right"), "right", 1.0)
        hasher.forget("a")
        assert not hasher.recall("a", stored, "right", 1.0)
        hasher.close()

    asyncio.run(main())
