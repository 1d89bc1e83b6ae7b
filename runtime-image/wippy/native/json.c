/* The json module's codec in C: encode walks Lua tables and decode builds them while parsing,
 * with no trip through Python.
 *
 * Both handle only the common case and give up (return false) on anything else: a table with a
 * metatable (runtime types, user metamethods), a non-string object key, invalid UTF-8 in a string
 * being encoded, a lone surrogate escape, any syntax error, nesting past MAX_DEPTH, a result past
 * the size bound. json.lua then runs its Lua codec on the same value, which writes the output or
 * the error message; so what users see is defined in one place. Everything is allocated through
 * the Lua state (userdata, strings, tables): the host's memory limit applies as in Lua code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"

#define MAX_DEPTH 128
/* An object's members stay on the Lua stack while they are sorted: past this many, the work of
 * one call grows faster than its output (100k members took 0.13s, past a slice), so json.lua,
 * which yields between members, takes the object. */
#define MAX_MEMBERS 16384
#define GIVE_UP 1
#define TOO_MANY_TABLES 2
#define TOO_MANY_VALUES 3

/* ------------------------------------------------------------------------------ encoding */

typedef struct {
  lua_State *L;
  char *b;          /* the output, a userdata at stack slot `slot` */
  size_t n, cap, max;
  int slot;
  /* plain(): text Python's json.loads reads as exactly the values engine/convert.py builds
   * (floats stay floats, no value dropped to null), within these counts */
  int plain;
  lua_Unsigned tables, values, max_tables, max_values;
} Out;

static int reserve(Out *o, size_t need) {
  if (o->n + need <= o->cap) return 0;
  if (o->n + need > o->max) return GIVE_UP;    /* too large for one call: json.lua encodes it */
  size_t cap = o->cap * 2;
  while (cap < o->n + need) cap *= 2;
  if (cap > o->max) cap = o->max;
  char *nb = lua_newuserdatauv(o->L, cap, 0);
  memcpy(nb, o->b, o->n);
  lua_copy(o->L, -1, o->slot);   /* the old buffer becomes garbage */
  lua_pop(o->L, 1);
  o->b = nb;
  o->cap = cap;
  return 0;
}

#define PUT(o, s, len) do { if (reserve(o, len)) return GIVE_UP; memcpy((o)->b + (o)->n, s, len); (o)->n += len; } while (0)
#define PUTC(o, c) do { if (reserve(o, 1)) return GIVE_UP; (o)->b[(o)->n++] = (c); } while (0)

/* 1: byte needs escaping; 2: byte >= 0x80 (the string's UTF-8 must be checked) */
static unsigned char special[256];

/* Lua's utf8.len, strict: the same sequences are valid (no surrogates, nothing past U+10FFFF,
 * no overlong forms) */
static int valid_utf8(const unsigned char *s, size_t len) {
  static const unsigned int limits[] = {~0u, 0x80, 0x800, 0x10000u, 0x200000u, 0x4000000u};
  const unsigned char *end = s + len;
  while (s < end) {
    unsigned int c = *s;
    if (c < 0x80) { s++; continue; }
    unsigned int res = 0;
    int count = 0;
    for (; c & 0x40; c <<= 1) {
      if (s + count + 1 >= end) return 0;
      unsigned int cc = s[++count];
      if ((cc & 0xC0) != 0x80) return 0;
      res = (res << 6) | (cc & 0x3F);
    }
    res |= ((unsigned int)(c & 0x7F) << (count * 5));
    if (count > 5 || res > 0x7FFFFFFFu || res < limits[count]) return 0;
    if (res > 0x10FFFFu || (res >= 0xD800u && res <= 0xDFFFu)) return 0;
    s += count + 1;
  }
  return 1;
}

static int put_string(Out *o, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  int high = 0;
  while (i < len && !special[u[i]]) i++;
  if (i == len) {                      /* nothing to escape: the common case */
    if (reserve(o, len + 2)) return GIVE_UP;
    o->b[o->n] = '"';
    memcpy(o->b + o->n + 1, s, len);
    o->b[o->n + len + 1] = '"';
    o->n += len + 2;
    return 0;
  }
  for (size_t j = i; j < len; j++) high |= u[j] >= 0x80;
  if (high && !valid_utf8(u, len)) return GIVE_UP;   /* json.lua replaces the bad bytes */
  size_t extra = 0;
  for (size_t j = i; j < len; j++) {
    unsigned char c = u[j];
    if (special[c] == 1) extra += (c < 0x20 && c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t') ? 5 : 1;
  }
  if (reserve(o, len + extra + 3)) return GIVE_UP;
  char *p = o->b + o->n;
  *p++ = '"';
  memcpy(p, s, i);
  p += i;
  for (; i < len; i++) {
    unsigned char c = u[i];
    if (special[c] != 1) { *p++ = (char)c; continue; }
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\b': *p++ = 'b'; break;
      case '\f': *p++ = 'f'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      default: p += sprintf(p, "u%04x", c);
    }
  }
  *p++ = '"';
  o->n = (size_t)(p - o->b);
  return 0;
}

/* as json.lua's float_text: integral values in int64 range as integers, else the shortest of
 * %.15g, %.16g, %.17g that reads back as the same number */
static int put_number(Out *o, lua_State *L, int idx) {
  char tmp[40];
  int len;
  if (lua_isinteger(L, idx)) {
    len = snprintf(tmp, sizeof tmp, "%lld", (long long)lua_tointegerx(L, idx, NULL));
  } else if (o->plain) {            /* a float as a float (json.loads reads NaN and Infinity) */
    double f = lua_tonumberx(L, idx, NULL);
    if (isnan(f)) len = snprintf(tmp, sizeof tmp, "NaN");
    else if (isinf(f)) len = snprintf(tmp, sizeof tmp, f > 0 ? "Infinity" : "-Infinity");
    else {
      len = snprintf(tmp, sizeof tmp, "%.17g", f);
      if (!strpbrk(tmp, ".en")) len += snprintf(tmp + len, sizeof tmp - (size_t)len, ".0");
    }
  } else {
    double f = lua_tonumberx(L, idx, NULL);
    if (isnan(f) || isinf(f)) { PUT(o, "null", 4); return 0; }
    if (f == floor(f) && f >= -9.2233720368547758e18 && f < 9.2233720368547758e18) {
      len = snprintf(tmp, sizeof tmp, "%lld", (long long)f);
    } else {
      len = snprintf(tmp, sizeof tmp, "%.15g", f);
      if (strtod(tmp, NULL) != f) {
        len = snprintf(tmp, sizeof tmp, "%.16g", f);
        if (strtod(tmp, NULL) != f) len = snprintf(tmp, sizeof tmp, "%.17g", f);
      }
    }
  }
  PUT(o, tmp, (size_t)len);
  return 0;
}

typedef struct {
  const char *s;
  size_t n;
  int v;            /* stack index of the member's value */
} Member;

static int member_cmp(const void *a, const void *b) {
  const Member *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  return (x->n > y->n) - (x->n < y->n);
}

static int put_value(Out *o, int idx, int depth);

/* the table at absolute index t, at `depth` levels below the top value */
static int put_table(Out *o, int t, int depth) {
  lua_State *L = o->L;
  if (depth > MAX_DEPTH) return GIVE_UP;
  if (lua_getmetatable(L, t)) { lua_pop(L, 1); return GIVE_UP; }
  if (!lua_checkstack(L, 8)) return GIVE_UP;
  if (o->plain && ++o->tables > o->max_tables) return TOO_MANY_TABLES;
  lua_Unsigned len = lua_rawlen(L, t);
  if (len > 0) {                  /* an array: its keys must be exactly 1..#t */
    lua_Unsigned count = 0;
    if (len > o->max - o->n) return GIVE_UP;   /* a byte an element at least: no count of 10M keys */
    if (o->plain && (o->values += len) > o->max_values) return TOO_MANY_VALUES;
    lua_pushnil(L);
    while (lua_next(L, t)) { lua_pop(L, 1); count++; }
    if (count != len) return GIVE_UP;
    PUTC(o, '[');
    for (lua_Unsigned i = 1; i <= len; i++) {
      if (i > 1) PUTC(o, ',');
      lua_rawgeti(L, t, (lua_Integer)i);
      int r = put_value(o, lua_gettop(L), depth);
      if (r) return r;
      lua_pop(L, 1);
    }
    PUTC(o, ']');
    return 0;
  }
  /* an object: every key a string; its members are written in key byte order. Keys and values
   * stay on the stack (the values at Member.v) while the members are written. */
  int base = lua_gettop(L);
  Member small[32], *m = small;
  size_t nm = 0, cap = 32;
  lua_pushnil(L);                /* base + 1: the members' array once it outgrows `small` */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING || !lua_checkstack(L, 3)) return GIVE_UP;
    if (nm >= (o->max - o->n) / 4 || nm >= MAX_MEMBERS) return GIVE_UP;   /* `"":0,` at least a member */
    if (nm == cap) {
      Member *bigger = lua_newuserdatauv(L, cap * 2 * sizeof(Member), 0);
      memcpy(bigger, m, nm * sizeof(Member));
      lua_copy(L, -1, base + 1);
      lua_pop(L, 1);
      m = bigger;
      cap *= 2;
    }
    m[nm].s = lua_tolstring(L, -2, &m[nm].n);
    m[nm].v = lua_gettop(L);
    nm++;
    lua_pushvalue(L, -2);        /* the key again, for lua_next */
  }
  if (nm == 0) { lua_settop(L, base); PUT(o, "[]", 2); return 0; }    /* the empty table is an array */
  if (o->plain && (o->values += nm) > o->max_values) return TOO_MANY_VALUES;
  if (nm > 1) qsort(m, nm, sizeof(Member), member_cmp);
  for (size_t i = 0; i < nm; i++) {
    PUTC(o, i == 0 ? '{' : ',');
    if (put_string(o, m[i].s, m[i].n)) return GIVE_UP;
    PUTC(o, ':');
    int r = put_value(o, m[i].v, depth);
    if (r) return r;
  }
  PUTC(o, '}');
  lua_settop(L, base);
  return 0;
}

static int put_value(Out *o, int idx, int depth) {
  lua_State *L = o->L;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      return put_string(o, s, len);
    }
    case LUA_TNUMBER: return put_number(o, L, idx);
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) PUT(o, "true", 4); else PUT(o, "false", 5);
      return 0;
    case LUA_TTABLE: return put_table(o, idx, depth + 1);
    default:    /* nil, functions, userdata, threads: null as json.lua, not plain data */
      if (o->plain) return GIVE_UP;
      PUT(o, "null", 4);
      return 0;
  }
}

/* encode(table, max_bytes) -> text, or false to leave it to json.lua */
static int l_encode(lua_State *L) {
  size_t max = (size_t)lua_tointegerx(L, 2, NULL);
  lua_settop(L, 1);
  if (lua_type(L, 1) != LUA_TTABLE || max < 64) { lua_pushboolean(L, 0); return 1; }
  Out o = {L, NULL, 0, 4096, max, 2, 0, 0, 0, 0, 0};
  if (o.cap > max) o.cap = max;
  o.b = lua_newuserdatauv(L, o.cap, 0);       /* slot 2 */
  if (put_table(&o, 1, 0)) { lua_pushboolean(L, 0); return 1; }
  lua_pushlstring(L, o.b, o.n);
  return 1;
}

/* plain(table, max_bytes, max_tables, max_values) -> JSON text that Python's json.loads turns
 * into what engine/convert.py's to_python builds from the table; or false, "tables" / "values"
 * past a count; or false when the value is not plain data (runtime types, functions, non-string
 * keys outside an array, invalid UTF-8, more than MAX_DEPTH levels or max_bytes of text):
 * convert.py then walks it itself, and words any error. */
static int l_plain(lua_State *L) {
  size_t max = (size_t)lua_tointegerx(L, 2, NULL);
  lua_Unsigned max_tables = (lua_Unsigned)lua_tointegerx(L, 3, NULL);
  lua_Unsigned max_values = (lua_Unsigned)lua_tointegerx(L, 4, NULL);
  lua_settop(L, 1);
  if (lua_type(L, 1) != LUA_TTABLE || max < 64) { lua_pushboolean(L, 0); return 1; }
  Out o = {L, NULL, 0, 4096, max, 2, 1, 0, 0, max_tables, max_values};
  if (o.cap > max) o.cap = max;
  o.b = lua_newuserdatauv(L, o.cap, 0);       /* slot 2 */
  int r = put_table(&o, 1, 0);
  if (r) {
    lua_settop(L, 0);
    lua_pushboolean(L, 0);
    if (r == GIVE_UP) return 1;
    lua_pushstring(L, r == TOO_MANY_TABLES ? "tables" : "values");
    return 2;
  }
  lua_pushlstring(L, o.b, o.n);
  return 1;
}

/* ------------------------------------------------------------------------------ decoding */

typedef struct {
  lua_State *L;
  const unsigned char *p, *end;
  char *tmp;        /* unescaped string bodies, a userdata at stack slot 2 */
  size_t tmpcap;
} In;

static void skip_ws(In *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t')) d->p++;
}

static int hex4(const unsigned char *p, unsigned int *out) {
  unsigned int v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned int c = p[i], h;
    if (c >= '0' && c <= '9') h = c - '0';
    else if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
    else return 0;
    v = v << 4 | h;
  }
  *out = v;
  return 1;
}

static char *put_utf8(char *q, unsigned int cp) {
  if (cp < 0x80) { *q++ = (char)cp; }
  else if (cp < 0x800) { *q++ = (char)(0xC0 | cp >> 6); *q++ = (char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) {
    *q++ = (char)(0xE0 | cp >> 12); *q++ = (char)(0x80 | (cp >> 6 & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *q++ = (char)(0xF0 | cp >> 18); *q++ = (char)(0x80 | (cp >> 12 & 0x3F));
    *q++ = (char)(0x80 | (cp >> 6 & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
  }
  return q;
}

/* the string literal at d->p (its opening quote), pushed */
static int read_string(In *d) {
  const unsigned char *start = ++d->p, *p = start, *end = d->end;
  unsigned int hi = 0;
  while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) hi |= *p++;
  if (p >= end || *p < 0x20) return GIVE_UP;
  if (*p == '"') {
    if ((hi & 0x80) && !valid_utf8(start, (size_t)(p - start))) return GIVE_UP;
    lua_pushlstring(d->L, (const char *)start, (size_t)(p - start));
    d->p = p + 1;
    return 0;
  }
  /* escapes: find the closing quote, then unescape into tmp (never longer than the literal) */
  const unsigned char *close = p;
  while (close < end && *close != '"') {
    if (*close < 0x20) return GIVE_UP;
    close += *close == '\\' ? 2 : 1;
  }
  if (close >= end) return GIVE_UP;
  size_t span = (size_t)(close - start);
  if (!valid_utf8(start, span)) return GIVE_UP;
  if (span > d->tmpcap) {
    size_t cap = d->tmpcap * 2 > span ? d->tmpcap * 2 : span;
    d->tmp = lua_newuserdatauv(d->L, cap, 0);
    lua_copy(d->L, -1, 2);
    lua_pop(d->L, 1);
    d->tmpcap = cap;
  }
  char *q = d->tmp;
  memcpy(q, start, (size_t)(p - start));
  q += p - start;
  while (p < close) {
    if (*p != '\\') { *q++ = (char)*p++; continue; }
    unsigned int cp, lo;
    switch (p[1]) {
      case '"': *q++ = '"'; p += 2; break;
      case '\\': *q++ = '\\'; p += 2; break;
      case '/': *q++ = '/'; p += 2; break;
      case 'b': *q++ = '\b'; p += 2; break;
      case 'f': *q++ = '\f'; p += 2; break;
      case 'n': *q++ = '\n'; p += 2; break;
      case 'r': *q++ = '\r'; p += 2; break;
      case 't': *q++ = '\t'; p += 2; break;
      case 'u':
        if (close - p < 6 || !hex4(p + 2, &cp)) return GIVE_UP;
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDFFF) {   /* a pair; json.lua words lone surrogates */
          if (cp > 0xDBFF || close - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo)
              || lo < 0xDC00 || lo > 0xDFFF) return GIVE_UP;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
        q = put_utf8(q, cp);
        break;
      default: return GIVE_UP;
    }
  }
  lua_pushlstring(d->L, d->tmp, (size_t)(q - d->tmp));
  d->p = close + 1;
  return 0;
}

static int is_digit(const unsigned char *p, const unsigned char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

/* a number, read by Lua's own lua_stringtonumber as json.lua's tonumber does */
static int read_number(In *d) {
  const unsigned char *s = d->p, *p = s, *end = d->end;
  int fraction = 0;
  if (p < end && *p == '-') p++;
  if (!is_digit(p, end)) return GIVE_UP;
  if (*p == '0' && is_digit(p + 1, end)) return GIVE_UP;   /* leading zero */
  while (is_digit(p, end)) p++;
  if (p < end && *p == '.') {
    p++;
    if (!is_digit(p, end)) return GIVE_UP;
    while (is_digit(p, end)) p++;
    fraction = 1;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (!is_digit(p, end)) return GIVE_UP;
    while (is_digit(p, end)) p++;
    fraction = 1;
  }
  char buf[64];
  size_t len = (size_t)(p - s);
  if (len >= sizeof buf) return GIVE_UP;
  memcpy(buf, s, len);
  buf[len] = 0;
  if (lua_stringtonumber(d->L, buf) != len + 1) return GIVE_UP;
  if (fraction) {                /* json.lua adds 0.0, which also turns -0.0 into 0.0 */
    double f = lua_tonumberx(d->L, -1, NULL) + 0.0;
    lua_pop(d->L, 1);
    if (isinf(f)) return GIVE_UP;
    lua_pushnumber(d->L, f);
  }
  d->p = p;
  return 0;
}

static int read_value(In *d, int depth);

static int read_container(In *d, int depth) {
  lua_State *L = d->L;
  int object = *d->p == '{';
  if (depth >= MAX_DEPTH || !lua_checkstack(L, 4)) return GIVE_UP;
  d->p++;
  lua_createtable(L, 0, 0);
  int t = lua_gettop(L);
  skip_ws(d);
  if (d->p < d->end && *d->p == (object ? '}' : ']')) { d->p++; return 0; }
  lua_Integer i = 0;
  for (;;) {
    if (object) {
      if (d->p >= d->end || *d->p != '"' || read_string(d)) return GIVE_UP;
      skip_ws(d);
      if (d->p >= d->end || *d->p != ':') return GIVE_UP;
      d->p++;
      if (read_value(d, depth + 1)) return GIVE_UP;
      lua_rawset(L, t);             /* a null member removes the key, as t[k] = nil does */
    } else {
      if (read_value(d, depth + 1)) return GIVE_UP;
      lua_rawseti(L, t, ++i);
    }
    skip_ws(d);
    if (d->p >= d->end) return GIVE_UP;
    if (*d->p == ',') { d->p++; skip_ws(d); continue; }
    if (*d->p == (object ? '}' : ']')) { d->p++; return 0; }
    return GIVE_UP;
  }
}

static int read_value(In *d, int depth) {
  skip_ws(d);
  if (d->p >= d->end) return GIVE_UP;
  size_t left = (size_t)(d->end - d->p);
  switch (*d->p) {
    case '"': return read_string(d);
    case '{': case '[': return read_container(d, depth);
    case 't': if (left >= 4 && !memcmp(d->p, "true", 4)) { d->p += 4; lua_pushboolean(d->L, 1); return 0; } return GIVE_UP;
    case 'f': if (left >= 5 && !memcmp(d->p, "false", 5)) { d->p += 5; lua_pushboolean(d->L, 0); return 0; } return GIVE_UP;
    case 'n': if (left >= 4 && !memcmp(d->p, "null", 4)) { d->p += 4; lua_pushnil(d->L); return 0; } return GIVE_UP;
    default: return read_number(d);
  }
}

/* decode(text) -> true, value; or false to leave it to json.lua (which also words errors) */
static int l_decode(lua_State *L) {
  size_t len;
  lua_settop(L, 1);
  if (lua_type(L, 1) != LUA_TSTRING) { lua_pushboolean(L, 0); return 1; }
  const char *s = lua_tolstring(L, 1, &len);
  In d = {L, (const unsigned char *)s, (const unsigned char *)s + len, NULL, 256};
  d.tmp = lua_newuserdatauv(L, d.tmpcap, 0);   /* slot 2 */
  if (read_value(&d, 0)) { lua_settop(L, 0); lua_pushboolean(L, 0); return 1; }
  skip_ws(&d);
  if (d.p != d.end) { lua_settop(L, 0); lua_pushboolean(L, 0); return 1; }
  lua_pushboolean(L, 1);
  lua_copy(L, -2, 2);
  lua_copy(L, -1, 1);
  lua_settop(L, 2);
  return 2;
}

int luaopen_wippy_json(lua_State *L) {
  for (int c = 0; c < 0x20; c++) special[c] = 1;
  special['"'] = special['\\'] = 1;
  for (int c = 0x80; c < 0x100; c++) special[c] = 2;
  lua_createtable(L, 0, 3);
  lua_pushcclosure(L, l_encode, 0);
  lua_setfield(L, -2, "encode");
  lua_pushcclosure(L, l_plain, 0);
  lua_setfield(L, -2, "plain");
  lua_pushcclosure(L, l_decode, 0);
  lua_setfield(L, -2, "decode");
  return 1;
}
