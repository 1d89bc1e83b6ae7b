-- The `html` module: html.sanitize.new_policy/ugc_policy/strict_policy -> Policy, a
-- bluemonday-style whitelist built with chained calls and applied by nh3 (Python part).
local S, P, py = ...
local type, setmetatable, select, error = type, setmetatable, select, error
local new_error = S.new_error

-- Policy and builder state live in these weak tables, never in the objects themselves.
local state = setmetatable({}, {__mode = "k"})
local function frozen(name) return function() error(name .. " is read-only", 2) end end

local function names(fname, ...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) ~= "string" or v == "" then error(fname .. ": names must be non-empty strings", 3) end
    out[#out + 1] = v:lower()
  end
  return out
end

local POLICY, BUILDER = {}, {}
local POLICY_MT = {__index = POLICY, __name = "html.Policy", __metatable = false, __newindex = frozen("html.Policy")}
local BUILDER_MT = {__index = BUILDER, __name = "html.AttrBuilder", __metatable = false, __newindex = frozen("html.AttrBuilder")}

local function policy_state(self)
  local st = state[self]
  if not st or st.kind ~= "policy" then error("expected a Policy (use policy:method)", 3) end
  return st
end

local function new_policy()
  local p = setmetatable({}, POLICY_MT)
  state[p] = {kind = "policy", cfg = {elements = {}, attrs = {}, schemes = {}}}
  return p
end

function POLICY.allow_elements(self, ...)
  local cfg = policy_state(self).cfg
  for _, n in ipairs(names("allow_elements", ...)) do cfg.elements[#cfg.elements + 1] = n end
  return self
end

function POLICY.allow_attrs(self, ...)
  policy_state(self)
  local b = setmetatable({}, BUILDER_MT)
  state[b] = {kind = "builder", policy = self, names = names("allow_attrs", ...)}
  return b
end

local function flag(field)
  return function(self, on)
    policy_state(self).cfg[field] = on == nil and true or (on and true or false)
    return self
  end
end
POLICY.allow_relative_urls = flag("relative")
POLICY.require_parseable_urls = flag("parseable")
POLICY.require_nofollow_on_links = flag("nofollow")
POLICY.require_noreferrer_on_links = flag("noreferrer")
POLICY.add_target_blank_to_fully_qualified_links = flag("target_blank")

function POLICY.allow_url_schemes(self, ...)
  local cfg = policy_state(self).cfg
  for _, n in ipairs(names("allow_url_schemes", ...)) do cfg.schemes[#cfg.schemes + 1] = n end
  cfg.parseable = true
  return self
end

function POLICY.allow_standard_urls(self)
  local cfg = policy_state(self).cfg
  cfg.parseable, cfg.relative, cfg.nofollow = true, true, true
  for _, s in ipairs({"mailto", "http", "https"}) do cfg.schemes[#cfg.schemes + 1] = s end
  return self
end

local function add_attrs(cfg, list, on, pattern)
  cfg.attrs[#cfg.attrs + 1] = {names = list, on = on, pattern = pattern}
end

function POLICY.allow_images(self)
  local cfg = policy_state(self).cfg
  cfg.elements[#cfg.elements + 1] = "img"
  add_attrs(cfg, {"src", "alt", "width", "height", "title"}, {"img"})
  return self
end

function POLICY.allow_data_uri_images(self)
  policy_state(self).cfg.data_images = true
  return self
end

function POLICY.allow_lists(self)
  return POLICY.allow_elements(self, "ul", "ol", "li", "dl", "dt", "dd")
end

function POLICY.allow_tables(self)
  return POLICY.allow_elements(self, "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption")
end

function POLICY.allow_standard_attributes(self)
  add_attrs(policy_state(self).cfg, {"id", "class", "title", "dir", "lang"}, nil)
  return self
end

function POLICY.sanitize(self, text)
  local cfg = policy_state(self).cfg
  if type(text) ~= "string" then return nil, new_error("Invalid", "sanitize expects an HTML string") end
  if #text > py.inline_bytes then return py.sanitize_off(text, cfg) end   -- off the event loop
  return py.sanitize(text, cfg)
end

local function builder_state(self)
  local st = state[self]
  if not st or st.kind ~= "builder" then error("expected an AttrBuilder (use builder:method)", 3) end
  return st
end

function BUILDER.matching(self, pattern)
  local st = builder_state(self)
  if type(pattern) ~= "string" then return nil, new_error("Invalid", "matching expects a regex string") end
  local ok, err = py.check_pattern(pattern)
  if not ok then return nil, err end
  st.pattern = pattern
  return self, nil
end

function BUILDER.on_elements(self, ...)
  local st = builder_state(self)
  add_attrs(policy_state(st.policy).cfg, st.names, names("on_elements", ...), st.pattern)
  return st.policy
end

function BUILDER.globally(self)
  local st = builder_state(self)
  add_attrs(policy_state(st.policy).cfg, st.names, nil, st.pattern)
  return st.policy
end

-- bluemonday's UGCPolicy, in short: common formatting, links, images, lists, tables
local function ugc_policy()
  local p = new_policy()
  p:allow_elements("p", "br", "b", "i", "u", "s", "em", "strong", "small", "big", "sub", "sup", "mark",
    "del", "ins", "strike", "tt", "code", "pre", "kbd", "samp", "var", "q", "cite", "dfn", "abbr",
    "acronym", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "div", "span", "address",
    "article", "aside", "section", "header", "footer", "nav", "hgroup", "figure", "figcaption",
    "details", "summary", "ruby", "rp", "rt", "bdi", "bdo", "time", "wbr", "caption", "col", "colgroup", "a")
  p:allow_standard_attributes()
  p:allow_standard_urls()
  p:allow_attrs("href"):on_elements("a")
  p:allow_attrs("cite"):on_elements("blockquote", "q", "del", "ins")
  p:allow_attrs("datetime"):on_elements("time", "del", "ins")
  p:allow_attrs("colspan", "rowspan", "scope"):on_elements("td", "th")
  p:allow_images()
  p:allow_lists()
  p:allow_tables()
  return p
end

return {
  sanitize = {
    new_policy = function() return new_policy(), nil end,
    strict_policy = function() return new_policy(), nil end,
    ugc_policy = function() return ugc_policy(), nil end,
  },
}
