/* The part of the Lua 5.4 C API that the native codecs use, declared here so that they build
 * without Lua's headers. The functions come from the Lua that lupa's lua54 extension embeds (it
 * exports them): the codecs are linked against nothing and resolve them when loaded. */
#ifndef WIPPY_LUA_API_H
#define WIPPY_LUA_API_H

#include <stddef.h>

typedef struct lua_State lua_State;
typedef long long lua_Integer;
typedef unsigned long long lua_Unsigned;
typedef double lua_Number;
typedef int (*lua_CFunction)(lua_State *L);

#define LUA_TNIL 0
#define LUA_TBOOLEAN 1
#define LUA_TNUMBER 3
#define LUA_TSTRING 4
#define LUA_TTABLE 5

int lua_gettop(lua_State *L);
void lua_settop(lua_State *L, int idx);
int lua_checkstack(lua_State *L, int n);
void lua_pushvalue(lua_State *L, int idx);
void lua_copy(lua_State *L, int from, int to);

int lua_type(lua_State *L, int idx);
int lua_isinteger(lua_State *L, int idx);
int lua_toboolean(lua_State *L, int idx);
lua_Integer lua_tointegerx(lua_State *L, int idx, int *isnum);
lua_Number lua_tonumberx(lua_State *L, int idx, int *isnum);
const char *lua_tolstring(lua_State *L, int idx, size_t *len);
lua_Unsigned lua_rawlen(lua_State *L, int idx);

void lua_pushnil(lua_State *L);
void lua_pushboolean(lua_State *L, int b);
void lua_pushnumber(lua_State *L, lua_Number n);
const char *lua_pushlstring(lua_State *L, const char *s, size_t len);
const char *lua_pushstring(lua_State *L, const char *s);
void lua_pushcclosure(lua_State *L, lua_CFunction fn, int n);
size_t lua_stringtonumber(lua_State *L, const char *s);

void lua_createtable(lua_State *L, int narr, int nrec);
void *lua_newuserdatauv(lua_State *L, size_t size, int nuvalue);
int lua_getmetatable(lua_State *L, int idx);
int lua_rawgeti(lua_State *L, int idx, lua_Integer n);
void lua_rawset(lua_State *L, int idx);
void lua_rawseti(lua_State *L, int idx, lua_Integer n);
void lua_setfield(lua_State *L, int idx, const char *k);
int lua_next(lua_State *L, int idx);

#define lua_pop(L, n) lua_settop(L, -(n) - 1)

#endif
