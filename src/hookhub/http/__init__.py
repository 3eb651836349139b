"""The HTTP shell: FastAPI routers that authenticate, parse, call a service and shape the answer."""
