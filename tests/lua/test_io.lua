-- tau.save / tau.load: round trips of nested tables of tensors, numbers, strings and booleans;
-- the bytes on disk are standard safetensors; writes are atomic; every damaged file is refused
-- with a message naming it, never a crash.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"

local tmp = fx.root()
local n_files = 0
local function path(ext)
  n_files = n_files + 1
  return string.format("%s/f%d.%s", tmp, n_files, ext or "safetensors")
end

-- Deep equality of loaded values: tensors bit-identical with the same dtype, numbers of the same
-- subtype (NaN equal to NaN), tables with the same keys.
local function same(a, b, where)
  where = where or "value"
  if tau.is_tensor(a) then
    T.ok(tau.is_tensor(b), where .. " is a tensor")
    T.eq(b:dtype(), a:dtype(), where .. " dtype")
    T.eq(table.concat(b:size(), "x"), table.concat(a:size(), "x"), where .. " shape")
    T.ok(tau.equal(a, b), where .. " values")
  elseif type(a) == "table" then
    T.eq(type(b), "table", where .. " type")
    for k, v in pairs(a) do same(v, b[k], where .. "." .. tostring(k)) end
    for k in pairs(b) do T.ok(a[k] ~= nil, where .. ": unexpected key " .. tostring(k)) end
  elseif type(a) == "number" then
    T.eq(math.type(b), math.type(a), where .. " number subtype")
    if a ~= a then T.ok(b ~= b, where .. " is NaN") else T.eq(b, a, where) end
  else
    T.eq(b, a, where)
  end
end

local function roundtrip(v, meta)
  local p = path()
  tau.save(p, v, meta)
  local back, user = tau.load(p)
  return back, user, p
end

-- The header of a safetensors file, parsed here independently of the library.
local function header_of(bytes)
  local n = string.unpack("<I8", bytes)
  return fx.json_decode(bytes:sub(9, 8 + n)), n
end

T.test("a model's flat state_dict (dotted keys) round-trips and loads into a new model", function()
  tau.manual_seed(1)
  local m = tau.models.cnn{channels = 1, classes = 3, image = 8, width = 2, hidden = 4}
  local sd = m:state_dict()
  local back, _, p = roundtrip(sd)
  T.ok(back["features.1.weight"] ~= nil, "dotted names kept at the top level")
  same(sd, back, "state_dict")
  tau.manual_seed(2)
  local m2 = tau.models.cnn{channels = 1, classes = 3, image = 8, width = 2, hidden = 4}
  T.ok(not fx.same_state(m, m2), "a fresh model differs")
  m2:load_state_dict(tau.load(p))
  T.ok(fx.same_state(m, m2), "loaded weights and buffers equal")
  local hdr = header_of(fx.read(p))
  T.ok(hdr["features.1.weight"], "tensor names in the file are the state_dict keys")
end)

T.test("nested tables, arrays, integers, floats, strings, booleans, empty tables", function()
  local v = {
    model = {["conv.weight"] = tau.randn(2, 3), bn = {running_mean = tau.zeros(3)}},
    epoch = 7, step = -3, big = math.maxinteger, small = math.mininteger,
    lr = 0.1, third = 1 / 3, whole = 3.0, neg_zero = -0.0, tiny = 5e-324,
    inf = math.huge, ninf = -math.huge, nan = 0 / 0,
    name = "run \"one\"\n\tüñí ✓", empty_string = "", yes = true, no = false,
    rows = {{epoch = 1, loss = 0.5}, {epoch = 2, loss = 0.25}},
    list = {10, 20, 30}, sparse = {[1] = "a", [5] = "e", [-2] = "neg"},
    ["123"] = "a numeric-looking string key", [123] = "an integer key",
    empty = {}, deep = {a = {b = {c = {d = {}}}}},
    rng = {-1, 0x7fffffffffffffff, 12345, -0x8000000000000000},
  }
  local back = roundtrip(v)
  same(v, back, "root")
  T.eq(math.type(back.whole), "float", "3.0 stays a float")
  T.eq(math.type(back.epoch), "integer")
  T.eq(1 / back.neg_zero, -math.huge, "-0.0 keeps its sign")
  T.eq(back["123"], "a numeric-looking string key")
  T.eq(back[123], "an integer key")
  T.eq(#back.list, 3)
  T.eq(next(back.empty), nil)
  same({}, (roundtrip({})), "an empty root table")
  same({x = {}}, (roundtrip({x = {}})), "an empty nested table")
end)

T.test("tensors: float32 and int32, 0-dim, empty, views, requires_grad", function()
  local base = tau.randn(3, 4)
  local v = {
    f = tau.randn(2, 3, 4), i = tau.tensor({-5, 0, 7, 2147483647, -2147483648}, "int32"),
    scalar = tau.tensor(2.5), iscalar = tau.tensor(4, "int32"), empty = tau.zeros(0, 3),
    view = base:transpose(1, 2), slice = base:narrow(2, 2, 2), grad = tau.randn(2):requires_grad(),
    special = tau.tensor({math.huge, -math.huge, 0 / 0, -0.0, 1e-45}),
  }
  local back = roundtrip(v)
  same(v.f, back.f, "f")
  same(v.i, back.i, "i")
  T.eq(back.scalar:dim(), 0)
  T.eq(back.scalar:item(), 2.5)
  T.eq(back.iscalar:dtype(), "int32")
  T.eq(back.iscalar:item(), 4)
  T.eq(table.concat(back.empty:size(), "x"), "0x3")
  same(v.view:contiguous(), back.view, "transposed view")
  same(v.slice:contiguous(), back.slice, "narrowed view")
  T.ok(tau.equal(v.grad:detach(), back.grad), "requires_grad tensor saved by value")
  local s = back.special:totable()
  T.eq(s[1], math.huge)
  T.eq(s[2], -math.huge)
  T.ok(s[3] ~= s[3], "NaN")
  T.eq(1 / s[4], -math.huge, "-0")
  T.eq(s[5], v.special:totable()[5], "subnormal")
  -- saving copies: changing the source afterwards does not change the file
  local p = path()
  local t = tau.ones(3)
  tau.save(p, {t = t})
  t:fill_(7)
  T.eq(tau.load(p).t:sum():item(), 3)
end)

T.test("user metadata comes back as the second result", function()
  local back, user = roundtrip({a = 1}, {note = "hello", n = 5})
  T.eq(back.a, 1)
  T.eq(user.note, "hello")
  T.eq(user.n, "5", "metadata values are strings")
  T.eq(user["tau.version"], nil, "internal keys are not user metadata")
  T.eq(user["tau.checksum"], nil)
  T.eq(user["tau.header"], nil)
end)

T.test("the file is valid safetensors: header length, JSON, dtypes, shapes, offsets, data", function()
  local a, b = tau.tensor({{1, 2, 3}, {4, 5, 6}}), tau.tensor({7, -8}, "int32")
  local p = path()
  tau.save(p, {model = {["w.weight"] = a, idx = b}, epoch = 3, lr = 0.5, tag = "x", ok = true})
  local bytes = fx.read(p)
  local hdr, n = header_of(bytes)
  T.eq(n % 8, 0, "header padded to 8 bytes")
  T.eq(8 + n + 6 * 4 + 2 * 4, #bytes, "file size: length field, header, data")
  local w, i = hdr["model/w.weight"], hdr["model/idx"]
  T.ok(w and i, "nested names joined with '/'")
  T.eq(w.dtype, "F32")
  T.eq(i.dtype, "I32")
  T.eq(table.concat(w.shape, ","), "2,3")
  T.eq(table.concat(i.shape, ","), "2")
  -- offsets tile the data region exactly, in some order
  local spans = {w.data_offsets, i.data_offsets}
  table.sort(spans, function(x, y) return x[1] < y[1] end)
  T.eq(spans[1][1], 0)
  T.eq(spans[1][2], spans[2][1])
  T.eq(spans[2][2], 32)
  T.eq(w.data_offsets[2] - w.data_offsets[1], 24)
  local at = 8 + n + w.data_offsets[1]
  for k = 1, 6 do T.eq(string.unpack("<f", bytes, at + 4 * (k - 1) + 1), k + 0.0, "F32 element " .. k) end
  at = 8 + n + i.data_offsets[1]
  T.eq(string.unpack("<i4", bytes, at + 1), 7)
  T.eq(string.unpack("<i4", bytes, at + 5), -8)
  local meta = hdr.__metadata__
  T.ok(meta, "__metadata__ present")
  for k, v in pairs(meta) do T.eq(type(v), "string", "metadata " .. k .. " is a string") end
  T.eq(meta["tau.version"], tau.version)
  T.ok(meta["tau.checksum"]:match("^crc32:%x%x%x%x%x%x%x%x$"), "checksum of the data recorded")
  T.ok(meta["tau.header"]:match("^fnv1a64:%x+$"), "digest of the rest of the header recorded")
  T.eq(meta["i:epoch"], "3")
  T.eq(tonumber(meta["n:lr"]), 0.5)
  T.eq(meta["s:tag"], "x")
  T.eq(meta["b:ok"], "true")
end)

T.test("files written by other tools: other dtypes convert, metadata is returned raw", function()
  -- F64, I64, U8, BOOL, F16, BF16 tensors, no checksum, free-form metadata
  local data = string.pack("<dd", 1.5, -2.25) .. string.pack("<i8i8", 3, -4) .. "\1\0\2" .. "\0\1"
               .. string.pack("<I2I2", 0x3c00, 0xc000) .. string.pack("<I2", 0x3f80)
  local hdr = '{"__metadata__":{"format":"pt"},' ..
              '"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},' ..
              '"b":{"dtype":"I64","shape":[2],"data_offsets":[16,32]},' ..
              '"c":{"dtype":"U8","shape":[3],"data_offsets":[32,35]},' ..
              '"d":{"dtype":"BOOL","shape":[2],"data_offsets":[35,37]},' ..
              '"e":{"dtype":"F16","shape":[2],"data_offsets":[37,41]},' ..
              '"g":{"dtype":"BF16","shape":[1,1],"data_offsets":[41,43]}}'
  local p = path()
  fx.write(p, string.pack("<I8", #hdr) .. hdr .. data)
  local t, user = tau.load(p)
  T.eq(user.format, "pt")
  T.close(t.a, {1.5, -2.25})
  T.eq(t.a:dtype(), "float32")
  T.eq(t.b:dtype(), "int32")
  same(tau.tensor({3, -4}, "int32"), t.b, "I64")
  same(tau.tensor({1, 0, 2}, "int32"), t.c, "U8")
  same(tau.tensor({0, 1}, "int32"), t.d, "BOOL")
  T.close(t.e, {1, -2})
  T.close(t.g, {{1}})
  local bad = hdr:gsub('"F64"', '"F99"')
  fx.write(p, string.pack("<I8", #bad) .. bad .. data)
  T.raises(function() tau.load(p) end, "tau.load", p, "F99")
end)

T.test("save is atomic: no temporary file is left, failures leave the old file intact", function()
  local d = fx.tmpdir()
  local p = d .. "/ck.safetensors"
  tau.save(p, {x = tau.ones(4), n = 1})
  tau.save(p, {x = tau.zeros(4), n = 2})
  local files = fx.ls(d)
  T.eq(#files, 1, "only the file: " .. table.concat(files, " "))
  T.eq(files[1], "ck.safetensors")
  -- refused values: nothing written, the previous file intact
  T.raises(function() tau.save(p, {f = print}) end, "tau.save: cannot save a function at 'f'")
  T.eq(tau.load(p).n, 2)
  T.eq(#fx.ls(d), 1)
  -- the destination is a folder: the rename fails, the temporary file is removed
  fx.mkdir(d .. "/sub")
  T.raises(function() tau.save(d .. "/sub", {a = 1}) end, "tau.save", "cannot write '" .. d .. "/sub'")
  T.eq(#fx.ls(d), 2, "no temporary file left: " .. table.concat(fx.ls(d), " "))
  -- a missing folder
  T.raises(function() tau.save(d .. "/none/ck.safetensors", {a = 1}) end, "tau.save",
           d .. "/none/ck.safetensors", "No such file or directory")
  -- a folder we may not write in (root may write anywhere: then only the above applies)
  local ro = d .. "/ro"
  fx.mkdir(ro)
  fx.sh("chmod 555 " .. fx.quote(ro))
  local probe = io.open(ro .. "/probe", "w")
  if probe then
    probe:close()
    os.remove(ro .. "/probe")
  else
    T.raises(function() tau.save(ro .. "/ck.safetensors", {a = 1}) end, "tau.save", ro .. "/ck.safetensors")
    T.eq(#fx.ls(ro), 0, "nothing written in the read-only folder")
  end
  fx.sh("chmod 755 " .. fx.quote(ro))
end)

T.test("argument and value errors: paths, cycles, unsupported values and keys", function()
  local p = path()
  T.raises(function() tau.save(1, {}) end, "tau.save: argument 1 must be a file path")
  T.raises(function() tau.save(p, 5) end, "tau.save: argument 2 must be a table, got number")
  T.raises(function() tau.load(nil) end, "tau.load: argument 1 must be a file path")
  local a = {}
  a.b = {c = a}
  T.raises(function() tau.save(p, {a = a}) end, "tau.save: the table at 'a/b/c' contains itself")
  local shared = {v = 1}
  local back = roundtrip({x = shared, y = shared})
  T.eq(back.x.v + back.y.v, 2, "a table referenced twice is not a cycle")
  T.raises(function() tau.save(p, {a = {b = print}}) end, "tau.save: cannot save a function at 'a/b'")
  T.raises(function() tau.save(p, {co = coroutine.create(print)}) end, "cannot save a thread at 'co'")
  T.raises(function() tau.save(p, {u = io.stdout}) end, "cannot save a userdata at 'u'")
  T.raises(function() tau.save(p, {["a/b"] = 1}) end, "tau.save: key 'a/b' may not be empty, contain '/'")
  T.raises(function() tau.save(p, {m = {["x/y"] = tau.ones(1)}}) end, "key 'x/y'")
  T.raises(function() tau.save(p, {[""] = 1}) end, "may not be empty")
  T.raises(function() tau.save(p, {["#x"] = 1}) end, "start with '#'")
  T.raises(function() tau.save(p, {[1.5] = 1}) end, "tau.save: keys must be strings or integers, got float")
  T.raises(function() tau.save(p, {[true] = 1}) end, "keys must be strings or integers, got boolean")
  T.raises(function() tau.save(p, {s = "a\0b"}) end, "tau.save: the string at 's' is not valid UTF-8")
  T.raises(function() tau.save(p, {s = "\255"}) end, "the string at 's' is not valid UTF-8")
  T.raises(function() tau.save(p, {["k\0"] = 1}) end, "is not valid UTF-8")
  T.eq(fx.exists(p), false, "no file written by refused saves")
  -- the error points at the caller's line
  local err = T.raises(function() tau.save(p, {f = print}) end, "cannot save")
  T.ok(err:find("test_io.lua", 1, true), "position of the call: " .. err)
  err = T.raises(function() tau.load(tmp .. "/none.safetensors") end, "tau.load: cannot open '" .. tmp .. "/none.safetensors'")
  T.ok(err:find("test_io.lua", 1, true), "position of the call: " .. err)
end)

-- A small file with two tensors and some metadata, for the damage tests.
local function small_file()
  local p = path()
  tau.save(p, {w = tau.tensor({{1, 2}, {3, 4}}), i = tau.tensor({5, 6, 7}, "int32"), epoch = 2, name = "n"})
  return p, fx.read(p)
end

T.test("every truncation of a file is refused with a clear error", function()
  local p, good = small_file()
  local dst = path()
  local phrases = {"is not a safetensors file", "is not a valid safetensors file", "malformed safetensors header",
                   "truncated", "data bytes", "checksum mismatch"}
  for len = 0, #good - 1 do
    fx.write(dst, good:sub(1, len))
    local ok, err = pcall(tau.load, dst)
    T.ok(not ok, "a file cut to " .. len .. " bytes loads")
    err = tostring(err)
    T.ok(err:find("tau.load: ", 1, true) and err:find(dst, 1, true), "names the file: " .. err)
    local known = false
    for _, ph in ipairs(phrases) do if err:find(ph, 1, true) then known = true end end
    T.ok(known, "says what is wrong at " .. len .. " bytes: " .. err)
  end
  T.raises(function() tau.load(dst) end, "data bytes")   -- cut inside the data: the last case above
  fx.write(dst, "")
  T.raises(function() tau.load(dst) end, "is not a safetensors file: only 0 bytes")
  fx.write(dst, good:sub(1, 20))
  T.raises(function() tau.load(dst) end, "header length", "exceeds")
  T.eq(tau.load(p).epoch, 2, "the whole file loads")
end)

T.test("corrupted header bytes are refused, never a crash", function()
  local _, good = small_file()
  local hdr_len = string.unpack("<I8", good)
  local dst = path()
  local tried, silent = 0, {}
  for pos = 1, 8 + hdr_len do
    for _, repl in ipairs{"\0", "{", "\"", "9", "\255"} do
      if good:sub(pos, pos) ~= repl then
        tried = tried + 1
        fx.write(dst, good:sub(1, pos - 1) .. repl .. good:sub(pos + 1))
        local ok, err = pcall(tau.load, dst)
        if ok then silent[#silent + 1] = pos
        else T.ok(tostring(err):find(dst, 1, true), "the error names the file: " .. tostring(err)) end
      end
    end
  end
  -- only damage to the name of the digest's own key can go unnoticed (it then reads as user
  -- metadata); every name, shape, dtype and value is covered
  local key_at = good:find('"tau.header"', 1, true)
  for _, pos in ipairs(silent) do
    T.ok(pos > key_at and pos < key_at + 11, "undetected damage at byte " .. pos .. " of " .. tried)
  end
  fx.write(dst, (good:gsub('"i:epoch":"2"', '"i:epoch":"7"')))
  T.raises(function() tau.load(dst) end, "tau.load: '" .. dst .. "': header checksum mismatch", "the file is corrupt")
  fx.write(dst, (good:gsub('"w":', '"v":')))
  T.raises(function() tau.load(dst) end, "header checksum mismatch")
  fx.write(dst, (good:gsub('"s:name":"n"', '"s:name":"m"')))
  T.raises(function() tau.load(dst) end, "header checksum mismatch")
  local function damaged(from, to)
    local s = good:gsub(from, to, 1)
    T.ok(s ~= good, "pattern " .. from .. " found")
    fx.write(dst, s)
    return dst
  end
  fx.write(dst, good:sub(1, 8) .. "[" .. good:sub(10))
  T.raises(function() tau.load(dst) end, "malformed safetensors header", "not a JSON object")
  T.raises(function() tau.load(damaged('"dtype":"F32"', '"dtype":"F31"')) end, dst, "F31")
  T.raises(function() tau.load(damaged('"shape":%[2,2%]', '"shape":[2,3]')) end, dst, "data_offsets")
  T.raises(function() tau.load(damaged('"data_offsets":%[0,', '"data_offsets":[4,')) end, dst)
  T.raises(function() tau.load(damaged("crc32:%x", "crc32:g")) end, dst, "tau.checksum")
  fx.write(dst, string.pack("<I8", 1 << 40) .. good:sub(9))
  T.raises(function() tau.load(dst) end, dst, "header length", "absurd")
  fx.write(dst, string.pack("<I8", 1) .. good:sub(9))
  T.raises(function() tau.load(dst) end, dst, "too small")
end)

T.test("a flipped data byte gives a checksum mismatch", function()
  local _, good = small_file()
  local hdr_len = string.unpack("<I8", good)
  local dst = path()
  for _, pos in ipairs{8 + hdr_len + 1, 8 + hdr_len + 9, #good} do
    fx.write(dst, good:sub(1, pos - 1) .. string.char(good:byte(pos) ~ 0x10) .. good:sub(pos + 1))
    T.raises(function() tau.load(dst) end, "tau.load", dst, "checksum mismatch", "the file is corrupt")
  end
  fx.write(dst, good .. "\0")
  T.raises(function() tau.load(dst) end, dst, "1 data bytes after the last tensor")
end)

T.test("loading a folder or a non-file is an error", function()
  T.raises(function() tau.load(tmp) end, "tau.load", tmp)
  T.raises(function() tau.load("/dev/null") end, "tau.load", "/dev/null")
end)

------------------------------------------------------------------------ tau.util file helpers

T.test("util.json: stable, parseable, exact numbers, NaN/inf as null, tensors as arrays", function()
  local util = tau.util
  local v = {b = {1, 2.5, "q\"\n\1"}, a = 1, c = {}, d = 0 / 0, e = math.huge, f = true, g = tau.tensor({{1, 2}, {3, 4}}),
             [3] = "three", h = {x = {y = false}}}
  local s = util.json(v)
  T.eq(s:sub(1, 12), '{"3": "three', "keys sorted")
  local back = fx.json_decode(s)
  T.eq(back.a, 1)
  T.eq(back.b[3], "q\"\n\1")
  T.eq(back.d, nil, "NaN is null")
  T.eq(back.e, nil, "inf is null")
  T.eq(back.g[2][1], 3)
  T.eq(back.h.x.y, false)
  T.eq(next(back.c), nil)
  T.eq(util.json(v), s, "stable")
  local pretty = util.json(v, 2)
  T.ok(pretty:find("\n  \"a\": 1", 1, true), "indented: " .. pretty)
  T.eq(util.json(fx.json_decode(pretty)), util.json(back), "indented output parses to the same value")
  T.eq(util.json({r = {{a = 1}, {a = 2}}, x = {1, 2}}, 2),
       '{\n  "r": [\n    {\n      "a": 1\n    },\n    {\n      "a": 2\n    }\n  ],\n  "x": [1, 2]\n}',
       "an array of objects gets one element per line, numbers stay on one")
  for _, x in ipairs{0.1, 1 / 3, 2 ^ 53, 1e300, 5e-324, 0.49015000462532043, -123.456} do
    T.eq(tonumber(util.json(x)), x, "exact: " .. util.json(x))
  end
  T.eq(util.json(0.1), "0.1", "short when it can be")
  T.eq(util.json(42), "42")
end)

T.test("util.json_decode reads back what util.json writes; malformed text is an error with its position", function()
  local util = tau.util
  local v = {b = {1, 2.5, "q\"\n\1 τ"}, a = -3, c = {}, f = true, h = {x = {y = false}}, e = 1e-300}
  for _, indent in ipairs{nil, 2} do
    local back = util.json_decode(util.json(v, indent))
    T.eq(util.json(back), util.json(v), "round trip")
  end
  T.eq(math.type(util.json_decode("7")), "integer")
  T.eq(util.json_decode('"\\u00e9"'), "é")
  local arr = util.json_decode("[1, null, 3]")
  T.eq(#arr, 3) ; T.eq(arr[2], util.null, "null keeps its place in an array")
  T.eq(util.json_decode('{"a": null}').a, nil)
  T.raises(function() util.json_decode('{"a": [1, }') end, "tau.util.json_decode: unexpected character '}' at character 11")
  T.raises(function() util.json_decode('{"a": 1} x') end, "trailing text")
  T.raises(function() util.json_decode('"abc') end, "unterminated string")
  T.raises(function() util.json_decode(5) end, "tau.util.json_decode: expected a string, got number")
end)

T.test("util.csv, write_file (atomic), read_file, mkdir, format_time, provenance", function()
  local util = tau.util
  local csv = util.csv({{a = 1, b = "x,y"}, {a = 2.5, b = 'q"q'}, {b = "two\nlines"}}, {"a", "b"})
  T.eq(csv, 'a,b\n1,"x,y"\n2.5,"q""q"\n,"two\nlines"\n')
  local d = tmp .. "/util/a/b"
  util.mkdir(d)
  local p = d .. "/out.txt"
  util.write_file(p, "first")
  util.write_file(p, "second")
  T.eq(util.read_file(p), "second")
  T.eq(#fx.ls(d), 1, "no temporary file left")
  T.eq(util.read_file(d .. "/none"), nil)
  local err = T.raises(function() util.write_file(d .. "/none/x.txt", "x") end, "tau.util.write_file: cannot write",
                       d .. "/none/x.txt")
  T.ok(err:find("test_io.lua", 1, true), "raised at the caller: " .. err)
  T.raises(function() util.mkdir(p .. "/sub") end, "tau.util.mkdir: cannot create")
  T.eq(util.format_time(0), "0:00")
  T.eq(util.format_time(59.6), "1:00")
  T.eq(util.format_time(3661), "1:01:01")
  T.eq(util.format_time(-3), "0:00")
  local prov = util.provenance({seed = 3})
  T.eq(prov.seed, 3)
  T.eq(prov.tau_version, tau.version)
  T.ok(prov.command:find("bin/tau", 1, true), "command")
  T.ok(prov.date:match("^%d%d%d%d%-%d%d%-%d%dT"), "UTC date")
  T.eq(prov.threads, tau.get_num_threads())
end)

-- A state_dict with more tensors than a C function's guaranteed stack room (ResNets have
-- hundreds): each one is held on the stack while the file is written.
T.test("save and load many tensors", function()
  local sd = {}
  for i = 1, 600 do sd["layer" .. i .. ".weight"] = tau.full({2}, i) end
  local p = tmp .. "/many.safetensors"
  tau.save(p, sd)
  local back = tau.load(p)
  for i = 1, 600 do T.eq(back["layer" .. i .. ".weight"][2], i) end
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
