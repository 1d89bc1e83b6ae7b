"""errors global (lua/core/errors.md): construction forms, wrapping, kinds, stack and details."""
from __future__ import annotations


async def test_errors_page(app):
    res = await app.run("""return function()
    local plain = errors.new("something went wrong")
    local full = errors.new({message = "user not found", kind = errors.NOT_FOUND, retryable = false,
                             details = {user_id = 123}})
    local wrapped = errors.wrap(full, "failed to load users")
    local stack = errors.call_stack(full)
    return {plain:kind(), plain:message(), full:kind(), full:retryable(), full:details().user_id,
            wrapped:message(), errors.is(wrapped, errors.NOT_FOUND), wrapped:retryable(), wrapped:details().user_id,
            tostring(wrapped), type(full:stack()), stack.thread, #stack.frames > 0,
            stack.frames[1].source, type(stack.frames[1].line), errors.wrap(nil, "x") == nil,
            errors.is("not an error", errors.INVALID)}
    end""")
    assert res == ["", "something went wrong", "NotFound", False, 123,
                   "failed to load users: user not found", True, False, 123,
                   "failed to load users: user not found", "string", "main", True,
                   "app:main", "number", True, False]


async def test_kind_constants(app):
    res = await app.run("""return function()
    return {errors.NOT_FOUND, errors.ALREADY_EXISTS, errors.INVALID, errors.PERMISSION_DENIED,
            errors.UNAVAILABLE, errors.INTERNAL, errors.CANCELED, errors.CONFLICT, errors.TIMEOUT,
            errors.RATE_LIMITED, errors.UNKNOWN}
    end""")
    assert res == ["NotFound", "AlreadyExists", "Invalid", "PermissionDenied", "Unavailable", "Internal",
                   "Canceled", "Conflict", "Timeout", "RateLimited", ""]
