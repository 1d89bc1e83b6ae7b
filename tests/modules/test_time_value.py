"""Time values: Go semantics for layouts, parsing, calendar arithmetic and zones.

The golden cases come from Go's own time package (golden/gen_time.go)."""
from __future__ import annotations

import json
import time as pytime
from pathlib import Path

import pytest

from wippy.engine.errors import WippyError

GOLDEN = json.loads((Path(__file__).parent / "golden" / "time_golden.json").read_text())

PRELUDE = """
local time = require("time")
local json = require("json")
local LOCS = {}
local function loc(name)
  if LOCS[name] then return LOCS[name] end
  local l
  if name == "UTC" then l = time.utc
  elseif name == "fixed+0530" then l = time.fixed_zone("IST", 5 * 3600 + 30 * 60)
  elseif name == "fixed-031530" then l = time.fixed_zone("", -(3 * 3600 + 15 * 60 + 30))
  elseif name == "fixed0" then l = time.fixed_zone("", 0)
  else l = assert(time.load_location(name)) end
  LOCS[name] = l
  return l
end
"""


async def run(app, body: str, *args):
    return await app.run("local time = require('time')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["time"])


async def run_cases(app, body: str, cases: list) -> list:
    src = PRELUDE + "return function(text)\n local cases = json.decode(text)\n local out = {}\n" \
        "for i, c in ipairs(cases) do\n" + body + "\nend\nreturn out\nend"
    return await app.run(src, json.dumps(cases), modules=["time", "json"])


# ------------------------------------------------------------------ golden: Go's answers
@pytest.fixture
async def golden_app(make_app):
    """Thousands of cases in one process, under the default limits: a batch that runs longer
    than a slice is preempted at its loop and rescheduled, not ended."""
    return make_app()


async def test_format_matches_go(golden_app):
    app = golden_app
    cases = GOLDEN["format"]
    got = await run_cases(app, "out[i] = time.unix(c.sec, c.nsec):in_location(loc(c.loc)):format(c.layout)", cases)
    bad = [(c["loc"], c["layout"], c["out"], g) for c, g in zip(cases, got) if c["out"] != g]
    assert not bad, f"{len(bad)} of {len(cases)} differ, e.g. {bad[:5]}"


async def test_parse_matches_go(golden_app):
    app = golden_app
    cases = GOLDEN["parse"]
    got = await run_cases(app, """
    local t, err = time.parse(c.layout, c.value, loc(c.loc))
    if t then
      local name, off = t:zone()
      out[i] = {ok = true, sec = t:unix(), nsec = t:nanosecond(), zone = name, offset = off}
    else
      out[i] = {ok = false, err = err:message(), kind = err:kind()}
    end
    """, cases)
    bad = []
    for c, g in zip(cases, got):
        if c["ok"]:
            want = {"ok": True, "sec": c["sec"], "nsec": c["nsec"], "zone": c["zone"], "offset": c["offset"]}
            if g != want:
                bad.append((c["layout"], c["value"], c["loc"], want, g))
        elif g.get("ok") or g["err"] != c["err"] or g["kind"] != "Invalid":
            bad.append((c["layout"], c["value"], c["loc"], c["err"], g))
    assert not bad, f"{len(bad)} of {len(cases)} differ: {bad}"


async def test_date_and_add_date_match_go(golden_app):
    app = golden_app
    cases = GOLDEN["date"]
    got = await run_cases(app, """
    local a = c.args
    local t = time.date(a[1], a[2], a[3], a[4], a[5], a[6], a[7], loc(c.loc))
    out[i] = {t:unix(), t:nanosecond(), tostring(t), tostring(t:add_date(c.add[1], c.add[2], c.add[3])),
              t:weekday(), t:year_day()}
    """, cases)
    bad = [(c["args"], c["loc"], [c["sec"], c["nsec"], c["str"], c["add_str"], c["weekday"], c["yday"]], g)
           for c, g in zip(cases, got)
           if g != [c["sec"], c["nsec"], c["str"], c["add_str"], c["weekday"], c["yday"]]]
    assert not bad, f"{len(bad)} of {len(cases)} differ: {bad[:5]}"


async def test_round_truncate_match_go(golden_app):
    app = golden_app
    cases = GOLDEN["round"]
    got = await run_cases(app, """
    local t = time.unix(c.sec, c.nsec):utc()
    local r, tr = t:round(c.d), t:truncate(c.d)
    out[i] = {r:unix(), r:nanosecond(), tr:unix(), tr:nanosecond()}
    """, cases)
    bad = [(c, g) for c, g in zip(cases, got)
           if g != [c["round_sec"], c["round_nsec"], c["trunc_sec"], c["trunc_nsec"]]]
    assert not bad, bad[:5]


# ------------------------------------------------------------------ behaviour
async def test_now_and_unix(app):
    res = await run(app, """
    local t = time.now()
    local u = time.unix(1705329045, 500)
    return {t:unix(), math.type(t:unix()), u:unix_nano(), u:nanosecond(), tostring(t:location()),
            time.unix(10, -1):unix_nano(), time.unix(1.5):unix_nano()}
    """)
    assert abs(res[0] - pytime.time()) < 5 and res[1] == "integer"
    assert res[2] == 1705329045_000000500 and res[3] == 500 and res[4] == "Local"
    assert res[5] == 9_999_999_999 and res[6] == 1_500_000_000


async def test_accessors(app):
    res = await run(app, """
    local t = time.date(2024, 2, 29, 13, 4, 5, 6, time.utc)
    local y, m, d = t:date()
    local h, mi, s = t:clock()
    return {y, m, d, h, mi, s, t:year(), t:month(), t:day(), t:hour(), t:minute(), t:second(),
            t:nanosecond(), t:weekday(), t:year_day(), t:format_rfc3339(), t:is_zero(),
            time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero(), t:month() == time.FEBRUARY,
            t:weekday() == time.THURSDAY}
    """)
    assert res == [2024, 2, 29, 13, 4, 5, 2024, 2, 29, 13, 4, 5, 6, 4, 60, "2024-02-29T13:04:05Z", False, True,
                   True, True]


async def test_arithmetic_and_comparison(app):
    res = await run(app, """
    local a = time.date(2024, 1, 1, 0, 0, 0, 0, time.utc)
    local b = a:add("1h30m")
    local c = a:add(time.parse_duration("-1s"))
    local d = a:add(1500)          -- integer nanoseconds
    local diff = b:sub(a)
    return {b:format(time.DATE_TIME), c:format(time.DATE_TIME), d:nanosecond(),
            diff:minutes(), getmetatable(diff) ~= nil, tostring(diff),
            b:after(a), b:before(a), a:equal(a:utc()), a == time.unix(a:unix(), 0), a < b, b <= a,
            a:in_location(time.fixed_zone("X", 3600)) == a}
    """)
    assert res == ["2024-01-01 01:30:00", "2023-12-31 23:59:59", 1500, 90.0, True, "1h30m0s",
                   True, False, True, True, True, False, True]


async def test_zones(app):
    res = await run(app, """
    local ny = time.load_location("America/New_York")
    local winter = time.date(2024, 1, 15, 12, 0, 0, 0, ny)
    local summer = time.date(2024, 7, 15, 12, 0, 0, 0, ny)
    local fz = time.fixed_zone("EST", -5 * 3600)
    local u = summer:utc()
    return {tostring(winter), tostring(summer), tostring(ny), ny:string(), tostring(fz),
            tostring(summer:location()), tostring(u:location()), u:hour(), summer:in_local() == summer,
            tostring(time.utc), tostring(time.localtz), winter:in_location(fz):format("15:04 MST")}
    """)
    assert res == ["2024-01-15 12:00:00 -0500 EST", "2024-07-15 12:00:00 -0400 EDT", "America/New_York",
                   "America/New_York", "EST", "America/New_York", "UTC", 16, True, "UTC", "Local", "12:00 EST"]


async def test_values_survive_copy(app):
    # a Time sent through a channel/message/function call is copied, and stays a Time
    app.function("app:echo", "return function(t) return t end", method=None, modules=["time"])
    res = await app.run("""
    local time = require("time")
    local funcs = require("funcs")
    return function()
      local ny = time.load_location("America/New_York")
      local t = time.date(2024, 7, 4, 9, 30, 0, 5, ny)
      local back = funcs.call("app:echo", t)
      return {back == t, back:format(time.RFC3339NANO), tostring(back:location()), back:add("1s"):second()}
    end
    """, modules=["time", "funcs"])
    assert res == [True, "2024-07-04T09:30:00.000000005-04:00", "America/New_York", 1]


async def test_json_encodes_time_as_rfc3339(app):
    res = await app.run("""
    local time, json = require("time"), require("json")
    return function() return json.encode({at = time.date(2024, 1, 2, 3, 4, 5, 600, time.utc), d = time.parse_duration("2s"),
                                          loc = time.load_location("Europe/Paris")}) end
    """, modules=["time", "json"])
    assert res == '{"at":"2024-01-02T03:04:05.0000006Z","d":2000000000,"loc":"Europe/Paris"}'


async def test_constants(app):
    res = await run(app, """
    return {time.RFC3339, time.RFC3339NANO, time.DATE_TIME, time.DATE_ONLY, time.TIME_ONLY, time.KITCHEN,
            time.ANSIC, time.RFC1123, time.RFC822, time.RFC822Z, time.RFC850, time.RFC1123Z, time.STAMP,
            time.STAMP_MILLI, time.STAMP_MICRO, time.STAMP_NANO, time.JANUARY, time.DECEMBER, time.SUNDAY,
            time.SATURDAY, time.SECOND}
    """)
    assert res == ["2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05",
                   "2006-01-02", "15:04:05", "3:04PM", "Mon Jan _2 15:04:05 2006", "Mon, 02 Jan 2006 15:04:05 MST",
                   "02 Jan 06 15:04 MST", "02 Jan 06 15:04 -0700", "Monday, 02-Jan-06 15:04:05 MST",
                   "Mon, 02 Jan 2006 15:04:05 -0700", "Jan _2 15:04:05", "Jan _2 15:04:05.000",
                   "Jan _2 15:04:05.000000", "Jan _2 15:04:05.000000000", 1, 12, 0, 6, 1_000_000_000]


@pytest.mark.parametrize("call, kind", [
    ("time.load_location('Nowhere/Special')", "NotFound"),
    ("time.load_location('')", "Invalid"),
    ("time.load_location(5)", "Invalid"),
    ("time.load_location('../../etc/passwd')", "Invalid"),
    ("time.parse('2006', 'abcd')", "Invalid"),
    ("time.parse(nil, '2024')", "Invalid"),
    ("time.parse('2006', 2024)", "Invalid"),
    ("time.parse('2006', '2024', 'UTC')", "Invalid"),
    ("time.date('x', 1, 1)", "Invalid"),
    ("time.date(2024, 1)", "Invalid"),
    ("time.date(2024, 1, 1, 0, 0, 0, 0, 'UTC')", "Invalid"),
    ("time.unix('now')", "Invalid"),
    ("time.unix(1/0)", "Invalid"),
    ("time.fixed_zone(5, 0)", "Invalid"),
    ("time.fixed_zone('X', 'y')", "Invalid"),
    ("time.now():add('bogus')", "Invalid"),
    ("time.now():in_location('UTC')", "Invalid"),
    ("time.now():format(5)", "Invalid"),
    ("time.now():round('x')", "Invalid"),
    ("time.now():sub(5)", "Invalid"),
    ("time.now():after(nil)", "Invalid"),
])
async def test_bad_input(app, call, kind):
    res = await run(app, f"local v, err = {call}; return {{v == nil, err:kind()}}")
    assert res == [True, kind]


async def test_module_tables_are_read_only(app):
    with pytest.raises(WippyError):
        await run(app, "time.RFC3339 = 'x'")


@pytest.mark.parametrize("stmt", [
    "time.utc.off = 3600", "time.utc.name = 'X'", "time.localtz.zone = 'Asia/Tokyo'",
    "time.now():utc():location().off = 5", "rawset(time.utc, 'off', 5)", "setmetatable(time.utc, nil)",
    "time.fixed_zone('A', 1).off = 2",
])
async def test_locations_are_read_only(app, stmt):
    with pytest.raises(WippyError):
        await run(app, stmt)
    # and nothing changed for the next process
    assert await run(app, "return {time.date(2024, 1, 1, 0, 0, 0, 0, time.utc):format(time.RFC3339), tostring(time.utc)}") \
        == ["2024-01-01T00:00:00Z", "UTC"]


async def test_now_is_cheap(make_app):
    app = make_app(slice_timeout=0)
    us = await run(app, """
    local best = 1e9
    for r = 1, 3 do
      local c = os.clock()
      for i = 1, 5000 do time.now() end
      best = math.min(best, (os.clock() - c) / 5000 * 1e6)
    end
    return best
    """)
    assert us < 20, us


async def test_local_zone_from_tz(make_app, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    app = make_app()   # the engine reads the local zone when it installs the module
    res = await run(app, """
    local t = time.date(2024, 1, 15, 12, 0, 0, 0)
    local s = time.date(2024, 7, 15, 12, 0, 0, 0)
    local p = time.parse(time.DATE_TIME, "2024-07-15 12:00:00")
    return {tostring(t), tostring(s), t:unix(), tostring(time.localtz), p == s,
            time.unix(0, 0):format(time.RFC3339), time.now():utc():format("MST")}
    """)
    assert res == ["2024-01-15 12:00:00 -0500 EST", "2024-07-15 12:00:00 -0400 EDT", 1705338000, "Local", True,
                   "1969-12-31T19:00:00-05:00", "UTC"]


async def test_parts_for_converters(app):
    # the engine-side helpers converters can use to carry a Time across Lua states
    S = app.engine.S
    t = S.time_from_parts(1705329045, 5, "America/New_York", None)
    assert tuple(S.time_parts(t)) == (1705329045, 5, "America/New_York", None)
    assert S.format_time(t, "2006-01-02 15:04:05 MST") == "2024-01-15 09:30:45 EST"
    f = S.time_from_parts(0, 0, "X", 3600)
    assert tuple(S.time_parts(f)) == (0, 0, "X", 3600)
    assert S.format_time(S.time_from_parts(0, 0, "Nowhere/Zone", None), "MST") == "UTC"
