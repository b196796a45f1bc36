-- The class system of tau.nn: Module and its registries of parameters, buffers and children,
-- with PyTorch's conventions (parameter registration by assignment, dotted state_dict names).
--
--   local Net = nn.Module:extend("Net")
--   function Net:init(c) self.fc = nn.Linear(c, 10) end
--   function Net:forward(x) return self.fc(x) end
--   local m = Net(784)          -- m(x) calls forward
--
-- Assigning a module to a field registers a child; assigning a tensor that requires grad
-- registers a parameter; register_buffer keeps non-trained state (saved in state_dict).
local tau = require "tau"
local util = require "tau.util"
local raise, shape_str = util.raise, util.shape_str

local nn = {}

local is_tensor = tau.is_tensor

-- Registries live in the instance: ordered names plus a name -> value map, so parameters()
-- and state_dict() come out in the order fields were assigned.
local function registry() return {names = {}, items = {}} end

local function reg_set(r, name, v)
  if r.items[name] == nil and v ~= nil then r.names[#r.names + 1] = name end
  if v == nil and r.items[name] ~= nil then
    for i, n in ipairs(r.names) do
      if n == name then table.remove(r.names, i); break end
    end
  end
  r.items[name] = v
end

local function instance_index(cls)
  return function(self, k)
    local v = rawget(self, "_parameters").items[k]
    if v ~= nil then return v end
    v = rawget(self, "_modules").items[k]
    if v ~= nil then return v end
    v = rawget(self, "_buffers").items[k]
    if v ~= nil then return v end
    return cls[k]
  end
end

local function is_module(v) return type(v) == "table" and getmetatable(v) ~= nil and rawget(v, "_modules") ~= nil end
nn.is_module = is_module

local function instance_newindex(self, k, v)
  local params, mods, bufs = rawget(self, "_parameters"), rawget(self, "_modules"), rawget(self, "_buffers")
  if is_module(v) then
    reg_set(params, k, nil); reg_set(bufs, k, nil); rawset(self, k, nil)
    reg_set(mods, k, v)
  elseif is_tensor(v) and (v.needs_grad or params.items[k] ~= nil) then
    reg_set(mods, k, nil); reg_set(bufs, k, nil); rawset(self, k, nil)
    reg_set(params, k, v)
  elseif is_tensor(v) and bufs.items[k] ~= nil then
    reg_set(bufs, k, v)
  elseif v == nil and (params.items[k] ~= nil or mods.items[k] ~= nil or bufs.items[k] ~= nil) then
    reg_set(params, k, nil); reg_set(mods, k, nil); reg_set(bufs, k, nil)
  else
    reg_set(params, k, nil); reg_set(mods, k, nil); reg_set(bufs, k, nil)
    rawset(self, k, v)
  end
end

local function call_forward(self, ...) return self:forward(...) end

local function make_class(name, parent, methods)
  local cls = {}
  if methods then for k, v in pairs(methods) do cls[k] = v end end
  cls.__name = name
  cls.__parent = parent
  cls.__index = instance_index(cls)
  cls.__newindex = instance_newindex
  cls.__call = call_forward
  cls.__tostring = function(self) return self:repr() end
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...) return c:new(...) end,
    __tostring = function() return "tau.nn." .. name end,
  })
end

local Module = make_class("Module")
nn.Module = Module

-- A new module class: `local Net = nn.Module:extend("Net", {init = ..., forward = ...})`.
-- Its init(self, ...) sets up fields; calling the class builds an instance.
function Module:extend(name, methods)
  if type(name) ~= "string" then raise("tau.nn.Module:extend: the class needs a name (a string)") end
  return make_class(name, self, methods)
end

function Module:new(...)
  local obj = {_parameters = registry(), _modules = registry(), _buffers = registry(),
               _non_persistent = {}, training = true}
  setmetatable(obj, self)
  obj:init(...)
  return obj
end

function Module:init() end

function Module:forward()
  raise(self.__name .. ": forward is not implemented")
end

function Module:register_parameter(name, t)
  if t ~= nil and not is_tensor(t) then
    raise(self.__name .. ":register_parameter: '" .. name .. "' must be a tensor or nil")
  end
  if t ~= nil and not t.needs_grad then t:requires_grad() end
  rawset(self, name, nil)
  reg_set(self._modules, name, nil); reg_set(self._buffers, name, nil)
  reg_set(self._parameters, name, t)
  return t
end

-- Buffers are saved in state_dict unless persistent = false, and never trained.
function Module:register_buffer(name, t, persistent)
  if t ~= nil and not is_tensor(t) then
    raise(self.__name .. ":register_buffer: '" .. name .. "' must be a tensor or nil")
  end
  rawset(self, name, nil)
  reg_set(self._modules, name, nil); reg_set(self._parameters, name, nil)
  reg_set(self._buffers, name, t)
  self._non_persistent[name] = persistent == false or nil
  return t
end

function Module:add_module(name, m)
  if m ~= nil and not is_module(m) then raise(self.__name .. ":add_module: '" .. tostring(name) .. "' is not a module") end
  name = tostring(name)
  rawset(self, name, nil)
  reg_set(self._parameters, name, nil); reg_set(self._buffers, name, nil)
  reg_set(self._modules, name, m)
  return m
end

function Module:named_children()
  local out = {}
  for _, n in ipairs(self._modules.names) do out[#out + 1] = {n, self._modules.items[n]} end
  return out
end

function Module:children()
  local out = {}
  for _, n in ipairs(self._modules.names) do out[#out + 1] = self._modules.items[n] end
  return out
end

-- Self first, then each child's subtree in order: {{name, module}, ...}; shared modules once.
function Module:named_modules(prefix, seen, out)
  prefix, seen, out = prefix or "", seen or {}, out or {}
  if seen[self] then return out end
  seen[self] = true
  out[#out + 1] = {prefix, self}
  for _, n in ipairs(self._modules.names) do
    self._modules.items[n]:named_modules(prefix == "" and n or prefix .. "." .. n, seen, out)
  end
  return out
end

function Module:modules()
  local out = {}
  for _, e in ipairs(self:named_modules()) do out[#out + 1] = e[2] end
  return out
end

local function named_items(self, field, skip_non_persistent)
  local out, seen = {}, {}
  for _, e in ipairs(self:named_modules()) do
    local prefix, m = e[1], e[2]
    local r = m[field]
    for _, n in ipairs(r.names) do
      local t = r.items[n]
      if not seen[t] and not (skip_non_persistent and m._non_persistent[n]) then
        seen[t] = true
        out[#out + 1] = {prefix == "" and n or prefix .. "." .. n, t}
      end
    end
  end
  return out
end

-- {{name, tensor}, ...} in a deterministic order; a parameter shared by several modules once.
function Module:named_parameters() return named_items(self, "_parameters") end
function Module:named_buffers() return named_items(self, "_buffers") end

function Module:parameters()
  local out = {}
  for _, e in ipairs(self:named_parameters()) do out[#out + 1] = e[2] end
  return out
end

function Module:buffers()
  local out = {}
  for _, e in ipairs(self:named_buffers()) do out[#out + 1] = e[2] end
  return out
end

function Module:num_parameters()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p:numel() end
  return n
end

function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do rawset(m, "training", mode and true or false) end
  return self
end

function Module:evaluate() return self:train(false) end
Module.eval = Module.evaluate

-- with_eval(model, fn, ...) -> fn(...)'s results, run with every module of model in evaluation
-- mode; afterwards each module gets its own flag back (a BatchNorm frozen in evaluation mode
-- inside a training model stays frozen), also when fn fails. model may be any callable: a
-- plain function has no mode to set.
function nn.with_eval(model, fn, ...)
  local saved = {}
  local top = type(model) == "table" and model.training
  if type(model) == "table" then
    local mods = type(model.modules) == "function" and model:modules() or {model}
    for _, m in ipairs(mods) do
      if type(m) == "table" then saved[#saved + 1] = {m, m.training} end
    end
    if type(model.evaluate) == "function" then model:evaluate()
    elseif type(model.eval) == "function" then model:eval()
    elseif type(model.train) == "function" then model:train(false)
    elseif model.training ~= nil then model.training = false end
  end
  local r = table.pack(pcall(fn, ...))
  -- a model's own train() runs first (it may do more than set flags), then every flag is put back
  if top and type(model.train) == "function" then model:train(true) end
  for _, e in ipairs(saved) do
    if e[1].training ~= e[2] then e[1].training = e[2] end
  end
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p:zero_grad() end
end

-- Calls fn(module) on every module, children before their parent (as PyTorch's apply).
function Module:apply(fn)
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

function Module:requires_grad_(on)
  if on == nil then on = true end
  for _, p in ipairs(self:parameters()) do p:requires_grad(on) end
  return self
end

-- Flat table name -> tensor (parameters, then persistent buffers), detached views sharing the
-- module's storage: save it right away, or clone it to keep a snapshot.
function Module:state_dict()
  local sd = {}
  for _, e in ipairs(named_items(self, "_parameters")) do sd[e[1]] = e[2]:detach() end
  for _, e in ipairs(named_items(self, "_buffers", true)) do sd[e[1]] = e[2]:detach() end
  return sd
end

-- The keys state_dict() has, in order.
function Module:state_keys()
  local keys = {}
  for _, e in ipairs(named_items(self, "_parameters")) do keys[#keys + 1] = e[1] end
  for _, e in ipairs(named_items(self, "_buffers", true)) do keys[#keys + 1] = e[1] end
  return keys
end

local function quoted(list)
  local q = {}
  for i, k in ipairs(list) do q[i] = '"' .. k .. '"' end
  return table.concat(q, ", ")
end

-- Copies sd's tensors into the module's (sd flat, or nested by the dotted parts). Shape
-- mismatches always raise; missing and unexpected keys raise when strict (the default), else
-- come back as {missing_keys, unexpected_keys}.
-- A nested table {conv1 = {weight = t}} (as a file loader may rebuild it) as flat dotted names.
local function flat_names(sd)
  local nested = false
  for _, v in pairs(sd) do
    if type(v) == "table" then nested = true; break end
  end
  if not nested then return sd end
  local out = {}
  local function walk(prefix, t)
    for k, v in pairs(t) do
      local name = prefix == "" and tostring(k) or prefix .. "." .. tostring(k)
      if type(v) == "table" then walk(name, v) else out[name] = v end
    end
  end
  walk("", sd)
  return out
end

local load_state_dict_opts = tau.options.spec("Module:load_state_dict", {strict = {"boolean", default = true}})
function Module:load_state_dict(sd, o)
  local strict = load_state_dict_opts(o).strict
  if type(sd) ~= "table" then raise(self.__name .. ":load_state_dict: expected a table name -> tensor, got " .. type(sd)) end
  sd = flat_names(sd)
  local own = {}
  local order = {}
  for _, e in ipairs(named_items(self, "_parameters")) do own[e[1]] = e[2]; order[#order + 1] = e[1] end
  for _, e in ipairs(named_items(self, "_buffers", true)) do own[e[1]] = e[2]; order[#order + 1] = e[1] end
  local missing, unexpected, mismatched = {}, {}, {}
  for _, k in ipairs(order) do
    local v = sd[k]
    if v == nil then
      missing[#missing + 1] = k
    elseif not is_tensor(v) then
      mismatched[#mismatched + 1] = string.format("value for %s is a %s, not a tensor", k, type(v))
    else
      local a, b = shape_str(v), shape_str(own[k])
      if a ~= b then
        mismatched[#mismatched + 1] = string.format(
          "size mismatch for %s: copying a tensor of size %s from the state dict, the size in the current model is %s",
          k, a, b)
      end
    end
  end
  for k in pairs(sd) do
    if own[k] == nil then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  local errs = {}
  if strict and #missing > 0 then errs[#errs + 1] = "missing keys in state dict: " .. quoted(missing) end
  if strict and #unexpected > 0 then errs[#errs + 1] = "unexpected keys in state dict: " .. quoted(unexpected) end
  for _, m in ipairs(mismatched) do errs[#errs + 1] = m end
  if #errs > 0 then
    raise("load_state_dict: error(s) loading the state dict into " .. self.__name .. ":\n\t" ..
          table.concat(errs, "\n\t"))
  end
  tau.no_grad(function()
    for _, k in ipairs(order) do
      if sd[k] ~= nil then own[k]:copy_(sd[k]) end
    end
  end)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

-- One line of arguments, shown inside the parentheses of __tostring.
function Module:extra_repr() return "" end

function Module:repr()
  local lines = {}
  for _, n in ipairs(self._modules.names) do
    local s = self._modules.items[n]:repr():gsub("\n", "\n  ")
    lines[#lines + 1] = "  (" .. n .. "): " .. s
  end
  local extra = self:extra_repr()
  if #lines == 0 then return self.__name .. "(" .. extra .. ")" end
  local head = self.__name .. "(" .. (extra ~= "" and extra .. "\n" or "\n")
  return head .. table.concat(lines, "\n") .. "\n)"
end

return nn
