"""Fair mailboxes: a flood from one sender does not bury another sender's message, order holds
per sender (all Wippy promises), and the mailbox cap counts every waiting message."""
from __future__ import annotations

FLOODER = """
function main(to, n)
  local taken = 0
  for i = 1, n do if process.send(to, "flood", i) then taken = taken + 1 end end
  return taken
end
"""
SENDER = """
function main(to, tag, n)
  local taken, err = 0, nil
  for i = 1, n or 1 do
    local ok, e = process.send(to, "probe", tag)
    if ok then taken = taken + 1 else err = tostring(e) end
  end
  return {taken, err}
end
"""

# spawns the senders (each finishes before the main process reads anything), then drains its inbox
DRAIN = """
local function sent(pid)
  local ev = process.events():receive()
  return ev.kind == "pid.exit"
end

function main(n)
  local me = process.pid()
  process.spawn_monitored("app:flooder", "app:host", me, n); sent()
  process.spawn_monitored("app:flooder2", "app:host", me, n); sent()
  process.spawn_monitored("app:sender", "app:host", me, "late"); sent()
  local inbox = process.inbox()
  local waiting = inbox:len()
  local order, at, last = {}, nil, {}
  for k = 1, waiting do
    local m = inbox:receive()
    local from = m:from()
    if m:topic() == "probe" then at = k
    else
      local v = m:payload():data()
      if last[from] and v ~= last[from] + 1 then order[#order + 1] = from .. ": " .. v .. " after " .. last[from] end
      last[from] = v
    end
  end
  local firsts = 0
  for _, v in pairs(last) do firsts = firsts + v end
  return {waiting = waiting, probe_at = at, out_of_order = order, floods_done = firsts}
end
"""


def _add(app):
    app.process("app:flooder", FLOODER)
    app.process("app:flooder2", FLOODER)
    app.process("app:sender", SENDER)


async def test_flooded_inbox_serves_other_senders_in_turn(app):
    _add(app)
    r = await app.run(DRAIN, 2000)
    assert r["waiting"] == 4001
    # behind the shared buffer (64) and one turn of each flooder, not behind 4,000 messages
    assert r["probe_at"] <= 70, r
    assert r["out_of_order"] == []          # each sender's messages arrive in the order sent
    assert r["floods_done"] == 4000


async def test_small_inbox_stays_first_in_first_out(app):
    _add(app)
    r = await app.run(DRAIN, 20)
    assert r["waiting"] == 41
    assert r["probe_at"] == 41, r
    assert r["out_of_order"] == []


async def test_mailbox_cap_counts_messages_queued_per_sender(make_app):
    app = make_app(max_mailbox=500)
    app.process("app:sink", "function main() process.inbox():receive() end")
    r = await app.run("""
    function main()
      local time = require("time")
      local sink = process.spawn("app:sink", "app:host")
      time.sleep("10ms")
      local okn, err = 0, nil
      for i = 1, 700 do
        local ok, e = process.send(sink, "x", i)
        if ok then okn = okn + 1 else err = e end
      end
      return {okn, tostring(err), err and err:kind()}
    end""", modules=["time"])
    # the first message wakes the waiting sink; 500 more wait (64 shared, the rest per sender)
    assert r[0] == 501
    assert "max_mailbox: 500" in r[1] and r[2] == "LimitExceeded"


async def test_select_and_own_sends_on_a_flooded_inbox(app):
    _add(app)
    r = await app.run("""
    function main()
      local me = process.pid()
      process.spawn_monitored("app:flooder", "app:host", me, 300)
      process.events():receive()
      local inbox = process.inbox()
      inbox:send("own")              -- a send on the inbox channel itself, after the flood
      local got, own_at = {}, nil
      for k = 1, 301 do
        local r = channel.select({inbox:case_receive()})
        if r.value == "own" then own_at = k else got[#got + 1] = r.value:payload():data() end
      end
      local sorted = true
      for i = 2, #got do if got[i] ~= got[i - 1] + 1 then sorted = false end end
      return {own_at = own_at, n = #got, sorted = sorted, left = inbox:len()}
    end""")
    assert r == {"own_at": 66, "n": 300, "sorted": True, "left": 0}


FULL = """
local function run(entry, ...)
  process.spawn_monitored(entry, "app:host", process.pid(), ...)
  return process.events():receive().result.value
end

function main()
  local flood = run("app:flooder", 700)
  local other = run("app:sender", "other")
  local again = run("app:sender", "again", 2)
  local crowd = 0
  for i = 1, 60 do crowd = crowd + run("app:sender", "crowd")[1] end
  local inbox = process.inbox()
  local waiting, other_at = inbox:len(), nil
  for k = 1, waiting do
    if inbox:receive():payload():data() == "other" then other_at = k end
  end
  return {flood = flood, other = other, again = again, crowd = crowd, waiting = waiting, other_at = other_at}
end
"""


async def test_full_mailbox_keeps_a_reserve_for_other_senders(make_app):
    app = make_app(max_mailbox=500)
    _add(app)
    r = await app.run(FULL)
    assert r["flood"] == 500                     # the flooder is refused at max_mailbox
    assert r["other"] == [1]             # another sender still gets in, and is served early
    assert r["other_at"] <= 70, r
    # a sender that already has a message queued is refused like the flooder
    assert r["again"][0] == 1 and "max_mailbox: 500" in r["again"][1]
    # the reserve is a tenth of max_mailbox: many senders cannot grow the mailbox past it
    assert r["crowd"] == 48 and r["waiting"] == 550
