"""`wippy test`: the test library entries import as `wippy.test:test`, and the runner that finds
`meta.type: test` entries, runs each in a Lua state of its own and reports the results."""
