"""The one warm engine of this Blender session: started lazily (or at add-on enable when the preference
says so), restarted when it died or its location changed, shut down when the add-on is disabled or
Blender quits. A crash is told to the artist once: by the job it killed, or, when it died between two
Reconstructs, by a notice at the next one (:meth:`EngineSession.take_notices`).

No ``bpy`` here: operators and ``__init__`` call :data:`SESSION`; tests can make their own
:class:`EngineSession`.
"""
from __future__ import annotations

from typing import Callable

from .engine_process import EngineJob, EngineLocation, EngineServer, ReconstructRequest
from .names import MSG

__all__ = ["EngineSession", "SESSION", "shutdown_session"]


class EngineSession:
    """Holds at most one :class:`EngineServer`; ``start`` is how servers are made (tests may replace it)."""

    def __init__(self, start: Callable[[EngineLocation], EngineServer] = EngineServer.start) -> None:
        self._start = start
        self._server: EngineServer | None = None
        self._notices: list[str] = []

    @property
    def server(self) -> EngineServer | None:
        """The current server (alive or not), if one was started."""
        return self._server

    def ensure(self, location: EngineLocation) -> EngineServer:
        """A live server for ``location``: the current one, or a new one (raises EngineNotFound)."""
        server = self._server
        if server is not None and server.alive and server.location == location and not server.cancelling:
            return server
        if server is not None:
            self._note_unexpected_exit(server)
            if server.cancelling:  # still busy with a cancelled request: a fresh engine starts sooner
                server.kill()
            else:
                server.shutdown()
            self._server = None
        self._server = self._start(location)
        return self._server

    def submit(self, location: EngineLocation, request: ReconstructRequest) -> EngineJob:
        """Send ``request`` to the session's engine (started or restarted as needed)."""
        return self.ensure(location).submit(request)

    def take_notices(self) -> list[str]:
        """Messages for the artist that no job reported (an engine that died while idle); each once."""
        notices, self._notices = self._notices, []
        return notices

    def shutdown(self) -> None:
        """Stop the engine (if any); the next request starts a new one."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def _note_unexpected_exit(self, server: EngineServer) -> None:
        if server.alive or server.stopped_by_us or server.crash_reported:
            return
        server.join_readers()
        tail = server.stderr_tail()
        self._notices.append(MSG.ENGINE_RESTARTED.format(code=server.process.returncode,
                                                         detail=tail[-1] if tail else "no error output"))
        server.crash_reported = True


SESSION = EngineSession()
"""The add-on's engine for this Blender session."""


def shutdown_session() -> None:
    """Stop the session's engine: add-on disabled, Blender quitting (registered with ``atexit``)."""
    SESSION.shutdown()
