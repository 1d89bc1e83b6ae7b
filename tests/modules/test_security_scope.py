"""security scopes (lua/security/security.md): policies() gives Policy objects, with/without
return new scopes."""
from __future__ import annotations


async def test_scope_policies_are_policy_objects(app):
    res = await app.run("""local security = require("security")
    return function()
      local scope = security.new_scope():with("app:read"):with("app:write")
      local ids = {}
      for _, p in ipairs(scope:policies()) do ids[#ids + 1] = p:id() end
      local fewer = scope:without("app:read")
      return {ids, #fewer:policies(), scope:contains("app:read"), fewer:contains("app:read")}
    end""", modules=["security"])
    assert res == [["app:read", "app:write"], 1, True, False]
