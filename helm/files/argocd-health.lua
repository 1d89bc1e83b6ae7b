-- Argo CD health check for every wippy.ai kind (resource.customizations.health.wippy.ai_<Kind>),
-- read from the kstatus conditions the operator writes: Stalled -> Degraded, Ready -> Healthy,
-- anything else (a spec the operator has not seen yet, pods still rolling out) -> Progressing.
local hs = {status = "Progressing", message = "waiting for the wippy operator"}
local status = obj.status
if status == nil then
  return hs
end
if obj.metadata ~= nil and status.observedGeneration ~= obj.metadata.generation then
  hs.message = "the wippy operator has not seen this generation yet"
  return hs
end
local ready = nil
for _, c in ipairs(status.conditions or {}) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.message or c.reason or "stalled"
    return hs
  end
  if c.type == "Ready" then
    ready = c
  end
end
if ready ~= nil then
  hs.message = ready.message or ready.reason or ""
  if ready.status == "True" then
    hs.status = "Healthy"
  end
end
return hs
