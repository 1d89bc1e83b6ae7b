"""store.memory, store.sql, store.redis: key-value stores (wippy.data.store). A changed
store.memory entry keeps its data."""
from ...data.handler import ResourceHandler


class StoreHandler(ResourceHandler):
    pass
