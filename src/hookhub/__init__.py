"""hookhub: a self-hosted webhook and WebSocket gateway for chat bots and their web apps."""

__version__ = "0.1.0"
