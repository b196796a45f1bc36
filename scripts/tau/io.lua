-- tau.save / tau.load: nested tables of tensors, numbers, strings and booleans in one
-- safetensors file. Tensors become the file's tensors under dotted names ("model.conv1.weight");
-- other values go to __metadata__ with a type prefix, so the file stays readable by any
-- safetensors tool while a checkpoint round-trips whole (model, optimizer, RNG, epoch).
-- Nesting is written with "/" (model/conv1.weight), so the dotted keys of a state_dict keep
-- their usual names: tau.save(path, model:state_dict()) writes "conv1.weight".
local tau = require "tau"
local io_ = {}

local function flatten(prefix, v, names, tensors, meta, seen)
  if tau.is_tensor(v) then
    names[#names + 1] = prefix
    tensors[#tensors + 1] = v
  elseif type(v) == "table" then
    if seen[v] then error("tau.save: the table at '" .. prefix .. "' contains itself", 4) end
    seen[v] = true
    for k, x in pairs(v) do
      if type(k) ~= "string" and math.type(k) ~= "integer" then
        error("tau.save: keys must be strings or integers, got " .. type(k) .. " at '" .. prefix .. "'", 4)
      end
      local ks = tostring(k)
      if type(k) == "string" and (ks:find("/", 1, true) or ks:match("^#") or ks == "") then
        error("tau.save: key '" .. ks .. "' may not be empty, contain '/' or start with '#'", 4)
      end
      if type(k) == "string" and ks:match("^%-?%d+$") then ks = "#" .. ks end -- a string that looks numeric
      flatten(prefix == "" and ks or prefix .. "/" .. ks, x, names, tensors, meta, seen)
    end
    seen[v] = nil
    if next(v) == nil then meta["t:" .. prefix] = "{}" end
  elseif math.type(v) == "integer" then meta["i:" .. prefix] = string.format("%d", v)
  elseif type(v) == "number" then meta["n:" .. prefix] = string.format("%.17g", v)
  elseif type(v) == "string" then meta["s:" .. prefix] = v
  elseif type(v) == "boolean" then meta["b:" .. prefix] = tostring(v)
  else error("tau.save: cannot save a " .. type(v) .. " at '" .. prefix .. "'", 4) end
end

function io_.save(path, tbl, metadata)
  if type(path) ~= "string" then error("tau.save: argument 1 must be a file path", 2) end
  if type(tbl) ~= "table" then error("tau.save: argument 2 must be a table, got " .. type(tbl), 2) end
  local names, tensors, meta = {}, {}, {}
  flatten("", tbl, names, tensors, meta, {})
  for k, v in pairs(metadata or {}) do meta["m:" .. tostring(k)] = tostring(v) end
  meta["tau.version"] = tau.version
  tau._st_write(path, names, tensors, meta)
end

local function insert(root, dotted, v)
  local t, keys = root, {}
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

-- Returns the nested table, and the user metadata given to save (or the raw metadata of a file
-- written by another tool).
function io_.load(path)
  if type(path) ~= "string" then error("tau.load: argument 1 must be a file path", 2) end
  local tensors, meta = tau._st_read(path)
  local out, user = {}, {}
  for name, t in pairs(tensors) do insert(out, name, t) end
  for k, v in pairs(meta) do
    local kind, key = k:match("^(%a):(.*)$")
    if kind == "i" then insert(out, key, math.tointeger(tonumber(v)))
    elseif kind == "n" then insert(out, key, tonumber(v))
    elseif kind == "s" then insert(out, key, v)
    elseif kind == "b" then insert(out, key, v == "true")
    elseif kind == "t" then insert(out, key, {})
    elseif kind == "m" then user[key] = v
    elseif k ~= "tau.version" and k ~= "tau.checksum" then user[k] = v end
  end
  return out, user
end

return io_
