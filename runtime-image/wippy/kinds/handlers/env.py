"""env.storage.* and env.variable (wippy.data.env), read by the `env` module."""
from ...data.handler import ResourceHandler


class EnvHandler(ResourceHandler):
    pass
