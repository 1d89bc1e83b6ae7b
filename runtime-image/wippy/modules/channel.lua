-- The `channel` global: Go-style channels and select.
local S = ...

return {
  new = S.new_channel,
  select = S.select,
}
