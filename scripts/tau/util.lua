-- Small helpers shared by the library and the experiments: JSON and CSV output, atomic file
-- writes, timing, and formatting.
local tau = require "tau"
local util = {}

-- Raises msg at the caller's line: the first frame that is neither C nor inside the library
-- (scripts/tau/), as the C bindings do. The library raises every error through these two; a
-- caught error is passed on with error(e, 0), which keeps the position it already has.
function util.raise(msg) tau._raise(msg) end

-- util.fail("tau.x", "%s must be ...", ...) raises "tau.x: <formatted>" at the caller's line.
function util.fail(fn, fmt, ...) tau._raise(fn .. ": " .. string.format(fmt, ...)) end

-- "[2, 3]": a tensor's size as messages print it.
function util.shape_str(t) return "[" .. table.concat(t:size(), ", ") .. "]" end

-- Functions and tables with a __call metamethod (modules, for instance).
function util.is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local map = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
    return map[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- JSON for numbers, strings, booleans, nil, tensors (as nested arrays) and tables (arrays when
-- their keys are 1..n, objects otherwise, keys sorted so output is stable).
function util.json(v, indent, level)
  level = level or 0
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return string.format("%d", v) end
    -- 10 significant digits when they read back as the same double, more when needed
    for digits = 10, 16 do
      local s = string.format("%." .. digits .. "g", v)
      if tonumber(s) == v then return s end
    end
    return string.format("%.17g", v)
  end
  if t == "string" then return json_string(v) end
  if tau.is_tensor(v) then return util.json(v:totable(), indent, level) end
  if t ~= "table" then return json_string(tostring(v)) end
  local n = #v
  local is_array = n > 0 or next(v) == nil
  if is_array then for k in pairs(v) do if math.type(k) ~= "integer" or k < 1 or k > n then is_array = false break end end end
  local parts = {}
  if is_array then
    -- numbers stay on one line; an array holding objects gets one element per line
    local nested = false
    for i = 1, n do
      parts[i] = util.json(v[i], indent, level + 1)
      if parts[i]:sub(1, 1) == "{" and parts[i] ~= "{}" then nested = true end
    end
    if indent and nested then
      local pad = string.rep(" ", (level + 1) * indent)
      return "[\n" .. pad .. table.concat(parts, ",\n" .. pad) .. "\n" .. string.rep(" ", level * indent) .. "]"
    end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do parts[i] = json_string(tostring(k)) .. ": " .. util.json(v[k], indent, level + 1) end
  if indent then
    local pad = string.rep(" ", (level + 1) * indent)
    return "{\n" .. pad .. table.concat(parts, ",\n" .. pad) .. "\n" .. string.rep(" ", level * indent) .. "}"
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Replaces path with text atomically (temporary file, fsync, rename).
function util.write_file(path, text) tau._atomic_write(path, text) end

function util.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function util.mkdir(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if not ok then util.raise("tau.util.mkdir: cannot create " .. path) end
end

local function csv_field(v)
  local s = type(v) == "number" and (math.type(v) == "integer" and string.format("%d", v) or string.format("%.6g", v))
            or tostring(v == nil and "" or v)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- rows: list of tables; columns: list of keys (order of the header).
function util.csv(rows, columns)
  local lines = {table.concat(columns, ",")}
  for _, r in ipairs(rows) do
    local f = {}
    for i, c in ipairs(columns) do f[i] = csv_field(r[c]) end
    lines[#lines + 1] = table.concat(f, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Monotonic seconds, for rates and ETAs.
util.now = tau.time

function util.format_time(s)
  s = math.max(0, math.floor(s + 0.5))
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s % 3600 // 60, s % 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end

-- What made a result: command line, seed and version, for the header of every results file.
function util.provenance(extra)
  local cmd = {}
  if arg then for i = 0, #arg do cmd[#cmd + 1] = arg[i] end end
  local p = {command = "bin/tau " .. table.concat(cmd, " "), tau_version = tau.version,
             threads = tau.get_num_threads(), date = os.date("!%Y-%m-%dT%H:%M:%SZ")}
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

-- Reads JSON text (as util.json writes it, or any standard JSON) into Lua values: objects and
-- arrays become tables, null becomes nil (util.null inside arrays, so their length holds).
-- Malformed text raises an error naming the position.
util.null = setmetatable({}, {__tostring = function() return "null" end})

function util.json_decode(text)
  if type(text) ~= "string" then error("tau.util.json_decode: expected a string, got " .. type(text), 2) end
  local i = 1
  local function fail(what) error(string.format("tau.util.json_decode: %s at character %d", what, i), 0) end
  local function ws() i = text:find("[^ \t\r\n]", i) or #text + 1 end
  local value
  local ESC = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
  local function str()
    local out = {}
    i = i + 1
    while true do
      local c = text:sub(i, i)
      if c == "" then fail("unterminated string") end
      if c == '"' then i = i + 1; return table.concat(out) end
      if c == "\\" then
        local e = text:sub(i + 1, i + 1)
        if e == "u" then
          local hex = text:sub(i + 2, i + 5)
          if not hex:match("^%x%x%x%x$") then fail("bad \\u escape") end
          out[#out + 1] = utf8.char(tonumber(hex, 16))
          i = i + 6
        elseif ESC[e] then out[#out + 1] = ESC[e]; i = i + 2
        else fail("bad escape") end
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
  end
  function value()
    ws()
    local c = text:sub(i, i)
    if c == "{" then
      local t = {}
      i = i + 1; ws()
      if text:sub(i, i) == "}" then i = i + 1; return t end
      while true do
        ws()
        if text:sub(i, i) ~= '"' then fail("expected a key") end
        local k = str()
        ws()
        if text:sub(i, i) ~= ":" then fail("expected ':'") end
        i = i + 1
        local v = value()
        if v ~= util.null then t[k] = v end
        ws()
        local d = text:sub(i, i)
        i = i + 1
        if d == "}" then return t end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = {}
      i = i + 1; ws()
      if text:sub(i, i) == "]" then i = i + 1; return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = text:sub(i, i)
        i = i + 1
        if d == "]" then return t end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then return str()
    elseif text:sub(i, i + 3) == "true" then i = i + 4; return true
    elseif text:sub(i, i + 4) == "false" then i = i + 5; return false
    elseif text:sub(i, i + 3) == "null" then i = i + 4; return util.null
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
      if not num or num == "" or not tonumber(num) then fail("unexpected character '" .. c .. "'") end
      i = i + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local v = value()
  ws()
  if i <= #text then fail("trailing text") end
  return v ~= util.null and v or nil
end

return util
