local funcs = require("funcs")

type Order = {id: string, items: {string}, total: number}
type Approval = {approved: boolean}

local function order_flow(input: any): (any, error?)
  local order, invalid = Order:is(input)
  if not order then return nil, invalid end

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
  local answer = Approval(msg:payload():data())
  if not answer.approved then
    funcs.call("app:refund_payment", payment.id)
    funcs.call("app:release_inventory", inventory.id)
    return nil, errors.new({kind = errors.INVALID, message = "rejected", retryable = false})
  end

  return funcs.call("app:fulfill_order", order.id)
end

return {order_flow = order_flow}
