"""db.sql.sqlite, db.sql.postgres, db.sql.mysql: connection pools (wippy.data.sql).
Changing an entry swaps its pool live; borrowed connections finish on the old one."""
from ...data.handler import ResourceHandler


class SqlHandler(ResourceHandler):
    pass
