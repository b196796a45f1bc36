-- tau.save / tau.load: nested tables of tensors, numbers, strings and booleans in one
-- safetensors file. Tensors become the file's tensors under dotted names ("model.conv1.weight");
-- other values go to __metadata__ with a type prefix, so the file stays readable by any
-- safetensors tool while a checkpoint round-trips whole (model, optimizer, RNG, epoch).
-- Nesting is written with "/" (model/conv1.weight), so the dotted keys of a state_dict keep
-- their usual names: tau.save(path, model:state_dict()) writes "conv1.weight".
local tau = require "tau"
local raise = require("tau.util").raise
local io_ = {}

-- Errors inside flatten are raised without a position; save re-raises them at its caller.
local fail = raise

local function flatten(prefix, v, names, tensors, meta, seen)
  if tau.is_tensor(v) then
    names[#names + 1] = prefix
    tensors[#tensors + 1] = v
  elseif type(v) == "table" then
    if seen[v] then fail("tau.save: the table at '" .. prefix .. "' contains itself") end
    seen[v] = true
    for k, x in pairs(v) do
      if type(k) ~= "string" and math.type(k) ~= "integer" then
        fail("tau.save: keys must be strings or integers, got " .. (math.type(k) or type(k)) .. " at '" .. prefix .. "'")
      end
      local ks = tostring(k)
      if type(k) == "string" and (ks:find("/", 1, true) or ks:match("^#") or ks == "") then
        fail("tau.save: key '" .. ks .. "' may not be empty, contain '/' or start with '#'")
      end
      if ks:find("\0", 1, true) or not utf8.len(ks) then
        fail("tau.save: key " .. string.format("%q", ks) .. " at '" .. prefix .. "' is not valid UTF-8 text (or holds a NUL byte)")
      end
      if type(k) == "string" and ks:match("^%-?%d+$") then ks = "#" .. ks end -- a string that looks numeric
      flatten(prefix == "" and ks or prefix .. "/" .. ks, x, names, tensors, meta, seen)
    end
    seen[v] = nil
    if next(v) == nil then meta["t:" .. prefix] = "{}" end
  elseif math.type(v) == "integer" then meta["i:" .. prefix] = string.format("%d", v)
  elseif type(v) == "number" then meta["n:" .. prefix] = string.format("%.17g", v)
  elseif type(v) == "string" then
    -- the header is JSON text read as C strings: a NUL byte would cut the value short
    if v:find("\0", 1, true) or not utf8.len(v) then
      fail("tau.save: the string at '" .. prefix .. "' is not valid UTF-8 text (or holds a NUL byte)")
    end
    meta["s:" .. prefix] = v
  elseif type(v) == "boolean" then meta["b:" .. prefix] = tostring(v)
  else fail("tau.save: cannot save a " .. type(v) .. " at '" .. prefix .. "'") end
end

-- The file's CRC (written by the C layer) covers only the tensor bytes; this digest covers the
-- rest of the header (every metadata entry, each tensor's name, dtype and shape), so that a
-- damaged number, string or name is refused too instead of loading silently. FNV-1a, 64-bit.
local HEADER_KEY = "tau.header"

local function header_digest(names, tensors, meta)
  local lines = {}
  for k, v in pairs(meta) do
    if k ~= HEADER_KEY and k ~= "tau.checksum" then lines[#lines + 1] = "m\0" .. k .. "\0" .. v end
  end
  for i, name in ipairs(names) do
    local t = tensors[i]
    lines[#lines + 1] = "t\0" .. name .. "\0" .. t:dtype() .. "\0" .. table.concat(t:size(), ",")
  end
  table.sort(lines)
  local h = 0xcbf29ce484222325
  for _, line in ipairs(lines) do
    for i = 1, #line do h = (h ~ line:byte(i)) * 0x100000001b3 end
    h = (h ~ 10) * 0x100000001b3
  end
  return string.format("fnv1a64:%016x", h)
end

function io_.save(path, tbl, metadata)
  if type(path) ~= "string" then raise("tau.save: argument 1 must be a file path") end
  if type(tbl) ~= "table" then raise("tau.save: argument 2 must be a table, got " .. type(tbl)) end
  local names, tensors, meta = {}, {}, {}
  flatten("", tbl, names, tensors, meta, {})
  for k, v in pairs(metadata or {}) do meta["m:" .. tostring(k)] = tostring(v) end
  meta["tau.version"] = tau.version
  meta[HEADER_KEY] = header_digest(names, tensors, meta)
  tau._st_write(path, names, tensors, meta)
end

local function insert(root, dotted, v)
  local t, keys = root, {}
  if dotted == "" then return end -- the root table itself (saved empty)
  for part in dotted:gmatch("[^/]+") do
    local k
    if part:match("^#") then k = part:sub(2)
    elseif part:match("^%-?%d+$") then k = math.tointeger(tonumber(part))
    else k = part end
    keys[#keys + 1] = k
  end
  for i = 1, #keys - 1 do
    local k = keys[i]
    if t[k] == nil then t[k] = {} end
    t = t[k]
  end
  t[keys[#keys]] = v
end

-- Numbers saved as floats stay floats (3.0 is not 3), infinities and NaN included.
local function float_of(s)
  local x = tonumber(s)
  if math.type(x) == "integer" then x = tonumber(s .. ".0") end -- "-0" is -0.0
  if x then return x end
  if s:match("^%-?inf") then return s:sub(1, 1) == "-" and -math.huge or math.huge end
  return 0.0 / 0.0
end

-- Returns the nested table, and the user metadata given to save (or the raw metadata of a file
-- written by another tool).
function io_.load(path)
  if type(path) ~= "string" then raise("tau.load: argument 1 must be a file path") end
  local tensors, meta = tau._st_read(path)
  if meta[HEADER_KEY] then
    local names, list = {}, {}
    for name, t in pairs(tensors) do names[#names + 1], list[#list + 1] = name, t end
    if header_digest(names, list, meta) ~= meta[HEADER_KEY] then
      raise("tau.load: '" .. path .. "': header checksum mismatch: a name, shape or value in the header was altered " ..
            "(the file is corrupt)")
    end
  end
  local out, user = {}, {}
  for name, t in pairs(tensors) do insert(out, name, t) end
  for k, v in pairs(meta) do
    local kind, key = k:match("^(%a):(.*)$")
    if kind == "i" then insert(out, key, math.tointeger(tonumber(v)))
    elseif kind == "n" then insert(out, key, float_of(v))
    elseif kind == "s" then insert(out, key, v)
    elseif kind == "b" then insert(out, key, v == "true")
    elseif kind == "t" then insert(out, key, {})
    elseif kind == "m" then user[key] = v
    elseif k ~= "tau.version" and k ~= "tau.checksum" and k ~= HEADER_KEY then user[k] = v end
  end
  return out, user
end

return io_
