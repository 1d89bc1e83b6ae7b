-- The `payload` global: wrap a value as a Payload (what messages and futures carry).
local S = ...
return {
  new = function(v) return S.new_payload(S.copy(v)) end,
}
