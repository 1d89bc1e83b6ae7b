"""templates module (lua/text/template.md) with template.set / template.jet entries
(system/template.md), loaded from an app folder's YAML."""
from __future__ import annotations

import textwrap

import pytest

from wippy.runtime import Runtime

INDEX = """
version: "1.0"
namespace: app.views
entries:
  - name: views
    kind: template.set
  - name: layout
    kind: template.jet
    set: app.views:views
    source: |
      <html><head><title>{{ yield title() }}</title></head><body>{{ yield body() }}</body></html>
  - name: page
    kind: template.jet
    set: views
    source: |
      {{ extends "layout" }}
      {{ block title() }}My Page{{ end }}
      {{ block body() }}<p>Welcome, {{ name }}</p>{{ end }}
  - name: email-welcome-v2
    kind: template.jet
    set: views
    meta: {name: welcome}
    source: |
      {{ include "partials/header" }}Hello {{ user.name }}! {{ activation_url }}
  - name: header
    kind: template.jet
    set: views
    meta: {name: partials/header}
    source: "<h1>{{ brand }}</h1>"
  - name: list
    kind: template.jet
    set: views
    source: |
      {{ range items }}<li>{{ .name }} - ${{ .price }}</li>{{ end }}{{ range i, item := items }}<p>{{ i }}. {{ item.name }}</p>{{ end }}
  - name: status
    kind: template.jet
    set: views
    source: |
      {{ if order.shipped }}<p>Shipped!</p>{{ else if order.processing }}<p>Processing...</p>{{ else }}<p>Received.</p>{{ end }}
  - name: broken
    kind: template.jet
    set: views
    source: "{{ undefined_var.x }}"
  - name: custom
    kind: template.set
    engine:
      delimiters: {left: "[[", right: "]]"}
      globals: {brand: Acme}
  - name: c1
    kind: template.jet
    set: custom
    source: "[[ brand ]]/{{ raw }}/[[ upper(x) ]]"
  - name: render
    kind: function.lua
    modules: [templates]
    source: file://render.lua
    method: main
"""

RENDER = """
local templates = require("templates")
function main(set_id, name, data)
  local set, err = templates.get(set_id)
  if err then return {err = err:kind(), msg = err:message()} end
  local out, rerr = set:render(name, data)
  set:release()
  if rerr then return {err = rerr:kind(), msg = rerr:message()} end
  return {out = out}
end
"""


@pytest.fixture
async def rt(tmp_path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "render.lua").write_text(RENDER)
    r = Runtime(tmp_path, node_name="test", persist_history=False)
    await r.start()
    assert not r.errors, r.errors
    yield r
    await r.stop()


async def render(rt, name, data=None, set_id="app.views:views"):
    return await rt.call("app.views:render", set_id, name, data if data is not None else {})


async def test_inheritance(rt):
    res = await render(rt, "page", {"name": "<Ann>"})
    assert res["out"].strip() == \
        "<html><head><title>My Page</title></head><body><p>Welcome, &lt;Ann&gt;</p></body></html>"


async def test_meta_name_and_include(rt):
    res = await render(rt, "welcome", {"user": {"name": "Alice", "email": "a@x"}, "brand": "B",
                                       "activation_url": "https://example.com/activate?token=abc"})
    assert res["out"].strip() == "<h1>B</h1>Hello Alice! https://example.com/activate?token=abc"


async def test_range_and_conditionals(rt):
    res = await render(rt, "list", {"items": [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}]})
    assert res["out"].strip() == "<li>a - $1.5</li><li>b - $2</li><p>0. a</p><p>1. b</p>"
    for order, want in [({"shipped": True}, "Shipped!"), ({"shipped": False, "processing": True}, "Processing..."),
                        ({"shipped": False, "processing": False}, "Received.")]:
        assert want in (await render(rt, "status", {"order": order}))["out"]


async def test_set_configuration(rt):
    res = await render(rt, "c1", {"x": "hi"}, set_id="app.views:custom")
    assert res["out"] == "Acme/{{ raw }}/HI"


@pytest.mark.parametrize("set_id, name, kind", [
    ("", "page", "Invalid"),
    ("app.views:views", "", "Invalid"),
    ("app.views:nosuch", "page", "NotFound"),
    ("app.views:render", "page", "NotFound"),     # not a template.set
    ("app.views:views", "nosuch", "NotFound"),
    ("app.views:views", "broken", "Internal"),
])
async def test_errors(rt, set_id, name, kind):
    res = await render(rt, name, {}, set_id=set_id)
    assert res["err"] == kind, res


async def test_released_set(rt):
    rt.registry  # noqa: B018 - the runtime is up
    from wippy.registry import Entry, Op
    src = textwrap.dedent("""
    local templates = require("templates")
    function main()
      local set = templates.get("app.views:views")
      assert(set:release() == true)
      local out, err = set:render("page", {})
      return {out == nil, err:kind()}
    end""")
    await rt.registry.apply([Op.create(Entry("app.views:rel", "function.lua", {}, {"source": src, "modules": ["templates"], "method": "main"}))])
    assert await rt.call("app.views:rel") == [True, "Internal"]


async def test_live_edit_and_syntax_error(rt):
    from wippy.registry import Entry, Op
    e = rt.registry.get("app.views:status")
    await rt.registry.apply([Op.update(Entry(e.id, e.kind, dict(e.meta), dict(e.data, source="NEW {{ order.shipped }}")))])
    assert (await render(rt, "status", {"order": {"shipped": True}}))["out"] == "NEW true"
    bad = Entry(e.id, e.kind, dict(e.meta), dict(e.data, source="{{ if x }}never closed"))
    with pytest.raises(Exception) as info:
        await rt.registry.apply([Op.update(bad)])
    assert "unclosed if" in str(info.value)
    assert (await render(rt, "status", {"order": {"shipped": False}}))["out"] == "NEW false"


def test_models_from_yaml():
    from wippy.kinds.models.catalog import MODELS
    s = MODELS["template.set"].from_data({"engine": {"development_mode": True, "extensions": [".tpl"]}})
    assert s.engine.development_mode and s.engine.delimiters.left == "{{"
    with pytest.raises(ValueError, match="delimeters|extra"):
        MODELS["template.set"].from_data({"engine": {"delimeters": {}}})
    j = MODELS["template.jet"].from_data({"set": "views", "source": "x"})
    assert j.references("app") == {"app:views"}
    with pytest.raises(ValueError):
        MODELS["template.jet"].from_data({"source": "x"})
