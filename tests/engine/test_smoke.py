async def test_process_returns_value(app):
    assert await app.run("function main(a, b) return a + b end", 2, 3) == 5
