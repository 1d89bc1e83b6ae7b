"""fs.directory and fs.embed: what the `fs` module is confined to (wippy.data.fs)."""
from ...data.handler import ResourceHandler


class FsHandler(ResourceHandler):
    pass
