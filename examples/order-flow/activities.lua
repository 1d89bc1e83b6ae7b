export type Reservation = {id: string, items: {string}}
export type Payment = {id: string, amount: number}

local M = {}

function M.reserve_inventory(items: {string}): Reservation?
  if #items == 0 then return nil end
  return {id = "inv-" .. #items, items = items}
end

function M.charge_payment(total: number): Payment?
  if total <= 0 then return nil end
  return {id = "pay-" .. total, amount = total}
end

function M.release_inventory(id: string): {released: string} return {released = id} end

function M.refund_payment(id: string): {refunded: string} return {refunded = id} end

function M.fulfill_order(id: string): {order: string, status: "fulfilled"}
  return {order = id, status = "fulfilled"}
end

return M
