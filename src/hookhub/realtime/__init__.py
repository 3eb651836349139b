"""The real-time hub: WebSocket fan-out to web apps and dashboards.

- :mod:`~hookhub.realtime.protocol`: the message protocol, pure (parse commands, build replies).
- :mod:`~hookhub.realtime.auth`: connection tokens (JWTs) and what they grant.
- :mod:`~hookhub.realtime.history`: per-channel history with offsets and epochs, for recovery.
- :mod:`~hookhub.realtime.connection`: one WebSocket connection, its state and its send path.
- :mod:`~hookhub.realtime.channels`: a channel's local subscribers; a publication encoded once.
- :mod:`~hookhub.realtime.presence`: who is connected to a channel, across nodes.
- :mod:`~hookhub.realtime.hub`: channels, users, presence and fan-out across processes.
- :mod:`~hookhub.realtime.service`: what the HTTP and CLI shells call (auth, tokens, broadcasts).
- :mod:`~hookhub.realtime.routes`: ``/ws``, the internal broadcast API and the admin endpoints.
- :mod:`~hookhub.realtime.transport`: prepared frames written straight to each socket (uvicorn).
"""
