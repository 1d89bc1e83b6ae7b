"""html module (lua/http/html.md): policies, element and attribute control, URL rules, errors."""
from __future__ import annotations



async def run(app, body: str, *args):
    return await app.run("local html = require('html')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["html"])


async def test_new_policy_allows_nothing_until_told(app):
    res = await run(app, """
    local policy, err = html.sanitize.new_policy()
    assert(err == nil)
    local before = policy:sanitize('<p class="x">Hi <em>there</em></p>')
    policy:allow_elements("p", "strong", "em")
    policy:allow_attrs("class"):globally()
    return {before, policy:sanitize('<p class="x" id="y">Hi <em>there</em><b>!</b></p>')}
    """)
    assert res == ["Hi there", '<p class="x">Hi <em>there</em>!</p>']


async def test_ugc_policy(app):
    res = await run(app, """
    local policy = html.sanitize.ugc_policy()
    return {policy:sanitize('<p>Hello <strong>world</strong></p>'),
            policy:sanitize('<p>Hello <script>alert("xss")</script></p>'),
            policy:sanitize('<a href="https://e.com" onclick="x()">l</a>'),
            policy:sanitize('<a href="javascript:alert(1)">x</a>')}
    """)
    assert res[:2] == ["<p>Hello <strong>world</strong></p>", "<p>Hello </p>"]
    assert res[2] == '<a href="https://e.com" rel="nofollow">l</a>'
    assert "javascript" not in res[3]


async def test_strict_policy(app):
    assert await run(app, "return html.sanitize.strict_policy():sanitize('<p>Hello <b>world</b>!</p>')") == "Hello world!"


async def test_allow_elements(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    policy:allow_elements("p", "strong", "em", "br")
    policy:allow_elements("h1", "h2", "h3")
    return policy:sanitize('<p>Hello <strong>world</strong></p><h2>T</h2><h4>no</h4>')
    """)
    assert res == "<p>Hello <strong>world</strong></p><h2>T</h2>no"


async def test_attrs_on_elements_and_globally(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    policy:allow_elements("a", "img", "p")
    policy:allow_attrs("href", "target"):on_elements("a")
    policy:allow_attrs("src", "alt", "width", "height"):on_elements("img")
    policy:allow_attrs("id"):globally()
    return policy:sanitize('<p id="i" href="x">t</p><a href="/p" target="t" alt="no">a</a><img src="i.png" alt="A" href="n">')
    """)
    assert res == '<p id="i">t</p><a href="/p" target="t">a</a><img src="i.png" alt="A">'


async def test_matching(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    policy:allow_elements("span")
    local builder, err = policy:allow_attrs("style"):matching("^color:#[0-9a-fA-F]{6}$")
    assert(err == nil)
    builder:on_elements("span")
    return {policy:sanitize('<span style="color:#ff0000">Red</span>'),
            policy:sanitize('<span style="background:red">Bad</span>')}
    """)
    assert res == ['<span style="color:#ff0000">Red</span>', "<span>Bad</span>"]


async def test_matching_invalid_pattern(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    local b, err = policy:allow_attrs("style"):matching("([")
    return {b == nil, err:kind()}
    """)
    assert res == [True, "Invalid"]


async def test_url_schemes_and_standard_urls(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    policy:allow_elements("a")
    policy:allow_attrs("href"):on_elements("a")
    policy:allow_url_schemes("https", "mailto")
    local a = policy:sanitize('<a href="https://example.com">OK</a>')
    local b = policy:sanitize('<a href="javascript:alert(1)">XSS</a>')
    local c = policy:sanitize('<a href="/page">Link</a>')
    policy:allow_relative_urls(true)
    local d = policy:sanitize('<a href="/page">Link</a>')
    local std = html.sanitize.new_policy()
    std:allow_elements("a")
    std:allow_attrs("href"):on_elements("a")
    std:allow_standard_urls()
    return {a, b, c, d, std:sanitize('<a href="/x">r</a><a href="ftp://h/f">f</a>')}
    """)
    assert res[:4] == ['<a href="https://example.com">OK</a>', "<a>XSS</a>", "<a>Link</a>", '<a href="/page">Link</a>']
    assert res[4] == '<a href="/x" rel="nofollow">r</a><a>f</a>'


async def test_require_parseable_urls(app):
    res = await run(app, """
    local policy = html.sanitize.new_policy()
    policy:allow_elements("a")
    policy:allow_attrs("href"):on_elements("a")
    local loose = policy:sanitize('<a href="/page">x</a>')
    policy:require_parseable_urls(true)
    return {loose, policy:sanitize('<a href="/page">x</a>'), policy:sanitize('<a href="http://[::1">x</a>')}
    """)
    # parseable URLs only: a relative URL needs allow_relative_urls, a broken one never passes
    assert res == ['<a href="/page">x</a>', "<a>x</a>", "<a>x</a>"]


async def test_link_decorations(app):
    res = await run(app, """
    local p1 = html.sanitize.new_policy()
    p1:allow_elements("a")
    p1:allow_attrs("href", "rel"):on_elements("a")
    p1:require_nofollow_on_links(true)
    local p2 = html.sanitize.new_policy()
    p2:allow_elements("a")
    p2:allow_attrs("href"):on_elements("a")
    p2:require_noreferrer_on_links(true)
    local p3 = html.sanitize.new_policy()
    p3:allow_elements("a")
    p3:allow_attrs("href", "target"):on_elements("a")
    p3:add_target_blank_to_fully_qualified_links(true)
    return {p1:sanitize('<a href="https://example.com">Link</a>'),
            p2:sanitize('<a href="https://example.com">Link</a>'),
            p3:sanitize('<a href="https://example.com">Link</a>'),
            p3:sanitize('<a href="/local">L</a>')}
    """)
    assert res == ['<a href="https://example.com" rel="nofollow">Link</a>',
                   '<a href="https://example.com" rel="noreferrer">Link</a>',
                   '<a href="https://example.com" target="_blank">Link</a>',
                   '<a href="/local">L</a>']


async def test_convenience(app):
    res = await run(app, """
    local p = html.sanitize.new_policy()
    p:allow_images()
    local img = p:sanitize('<img src="photo.jpg" alt="Photo" onerror="x()">')
    local d = html.sanitize.new_policy()
    d:allow_elements("img")
    d:allow_attrs("src"):on_elements("img")
    local before = d:sanitize('<img src="data:image/png;base64,iVBORw">')
    d:allow_data_uri_images()
    local after = d:sanitize('<img src="data:image/png;base64,iVBORw">')
    local l = html.sanitize.new_policy():allow_lists()
    local t = html.sanitize.new_policy():allow_tables()
    local s = html.sanitize.new_policy()
    s:allow_elements("p")
    s:allow_standard_attributes()
    return {img, before, after, l:sanitize('<ul><li>Item 1</li><li>Item 2</li></ul>'),
            t:sanitize('<table><tr><td>Cell</td></tr></table>'),
            s:sanitize('<p id="intro" class="text" title="Introduction" style="x">Hello</p>')}
    """)
    assert res[0] == '<img src="photo.jpg" alt="Photo">'
    assert res[1] == "<img>" and res[2] == '<img src="data:image/png;base64,iVBORw">'
    assert res[3] == "<ul><li>Item 1</li><li>Item 2</li></ul>"
    assert res[4] == "<table><tbody><tr><td>Cell</td></tr></tbody></table>" or res[4] == "<table><tr><td>Cell</td></tr></table>"
    assert res[5] == '<p id="intro" class="text" title="Introduction">Hello</p>'


async def test_sanitize_example(app):
    res = await run(app, """
    local policy = html.sanitize.ugc_policy()
    policy:require_nofollow_on_links(true)
    return policy:sanitize('<p>Hello</p><script>alert("xss")</script>')
    """)
    assert res == "<p>Hello</p>"


async def test_policy_state_is_private(app):
    res = await run(app, """
    local p = html.sanitize.new_policy()
    local ok = pcall(function() p.sanitize = function() return "<script>" end end)
    local v, err = p:sanitize(5)
    return {ok, getmetatable(p), p:sanitize("<b>x</b>"), v == nil, err:kind()}
    """)
    assert res == [False, False, "x", True, "Invalid"]
