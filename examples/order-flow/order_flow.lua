local funcs = require("funcs")

local function order_flow(order)
  local inventory = funcs.call("app:reserve_inventory", order.items)
  if not inventory then
    return nil, errors.new("out of stock")
  end

  local payment = funcs.call("app:charge_payment", order.total)
  if not payment then
    funcs.call("app:release_inventory", inventory.id)
    return nil, errors.new("payment failed")
  end

  -- wait for approval: a message that may come days later
  local msg = process.inbox():receive()
  if not msg:payload():data().approved then
    funcs.call("app:refund_payment", payment.id)
    funcs.call("app:release_inventory", inventory.id)
    return nil, errors.new({kind = errors.INVALID, message = "rejected", retryable = false})
  end

  return funcs.call("app:fulfill_order", order.id)
end

return {order_flow = order_flow}
