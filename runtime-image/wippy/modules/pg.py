"""Python side of the `pg` module: the node's process groups (cluster/pg.py)."""
from __future__ import annotations

from ..cluster.pg import ProcessGroups
from ..engine.errors import INVALID, WippyError


def install(engine):
    node = engine.node

    def groups():
        return ProcessGroups.of(node)

    def open_scope(scope_id):
        groups().scope(scope_id)
        return True

    def names(value):
        items = engine.py(value) if not isinstance(value, str) else value
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not items or not all(isinstance(g, str) and g for g in items):
            raise WippyError(INVALID, "group must be a non-empty string or a list of them")
        return items

    def join(scope_id, pid, value):
        groups().scope(scope_id).join(pid, names(value))
        return True

    def leave(scope_id, pid, value):
        gs = names(value)
        if not groups().scope(scope_id).leave(pid, gs):
            raise WippyError(INVALID, f"{pid} is not a member of {', '.join(gs)}")
        return True

    def members(scope_id, group, local_only):
        return engine.to_lua(groups().scope(scope_id).members(group, bool(local_only)))

    def which(scope_id, local_only):
        return engine.to_lua(groups().scope(scope_id).groups(bool(local_only)))

    def broadcast(scope_id, group, topic, frm, value, local_only):
        data = engine.py(value)
        for pid in dict.fromkeys(groups().scope(scope_id).members(group, bool(local_only))):
            node.send(pid, topic, frm, data)
        return True

    def subscribe(scope_id, pid, group):
        s = groups().scope(scope_id)
        topic = groups().subscription_topic()
        s.subs[topic] = (pid, group)   # in the same step as the snapshot: no change slips between
        return topic, engine.to_lua(s.members(group) if group is not None else s.snapshot())

    def unsubscribe(scope_id, topic):
        groups().scope(scope_id).subs.pop(topic, None)
        return True

    return {"open": open_scope, "join": join, "leave": leave, "members": members, "which": which,
            "broadcast": broadcast, "subscribe": subscribe, "unsubscribe": unsubscribe}
