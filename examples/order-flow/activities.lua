local M = {}

function M.reserve_inventory(items)
  if #items == 0 then return nil end
  return {id = "inv-" .. #items, items = items}
end

function M.charge_payment(total)
  if total <= 0 then return nil end
  return {id = "pay-" .. total, amount = total}
end

function M.release_inventory(id) return {released = id} end

function M.refund_payment(id) return {refunded = id} end

function M.fulfill_order(id) return {order = id, status = "fulfilled"} end

return M
