-- tau.nn: modules over tau.F, with PyTorch's conventions (parameter registration by
-- assignment, dotted state_dict names, default initialisations).
--
--   local Net = nn.Module:extend("Net")
--   function Net:init(c) self.fc = nn.Linear(c, 10) end
--   function Net:forward(x) return self.fc(x) end
--   local m = Net(784)          -- m(x) calls forward
--
-- Assigning a module to a field registers a child; assigning a tensor that requires grad
-- registers a parameter; register_buffer keeps non-trained state (saved in state_dict).
-- Children of Sequential are named "1", "2", ..., so keys read "layers.1.weight".
local tau = require "tau"
local F = tau.F

local nn = {}

local function is_tensor(x) return tau.is_tensor(x) end

local function shape_str(t)
  return "[" .. table.concat(t:size(), ", ") .. "]"
end

-- A number or a pair {h, w} as a pair.
local function pair(v, what, fn)
  if type(v) == "number" then return {v, v} end
  if type(v) == "table" and #v == 2 then return {v[1], v[2]} end
  error(string.format("%s: %s must be a number or a pair {h, w}, got %s", fn, what, tostring(v)), 3)
end

local function check_positive_int(v, what, fn)
  local i = type(v) == "number" and math.tointeger(v) or nil
  if not i or i < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", fn, what, tostring(v)), 3)
  end
  return i
end

local function opt(opts, fn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fn .. ": options must be a table, got " .. type(opts), 3) end
  return opts
end

-------------------------------------------------------------------------------- init

local init = {}
nn.init = init

local function fans(t, fn)
  local d = t:dim()
  if d < 2 then
    error(fn .. ": fan in and fan out need a tensor with at least 2 dimensions, got " .. shape_str(t), 3)
  end
  local receptive = 1
  for i = 3, d do receptive = receptive * t:size(i) end
  return t:size(2) * receptive, t:size(1) * receptive
end

function init.calculate_gain(nonlinearity, param)
  nonlinearity = nonlinearity or "leaky_relu"
  if nonlinearity == "linear" or nonlinearity == "sigmoid" or nonlinearity:match("^conv") then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "selu" then return 3 / 4 end
  if nonlinearity == "leaky_relu" then
    local slope = param or 0.01
    return math.sqrt(2 / (1 + slope * slope))
  end
  error("tau.nn.init.calculate_gain: unknown nonlinearity '" .. tostring(nonlinearity) .. "'", 2)
end

local function in_place(fn) return tau.no_grad(fn) end

function init.uniform_(t, a, b)
  in_place(function() t:uniform_(a or 0, b or 1) end)
  return t
end

function init.normal_(t, mean, std)
  in_place(function() t:normal_(mean or 0, std or 1) end)
  return t
end

function init.constant_(t, v)
  in_place(function() t:fill_(v) end)
  return t
end

function init.zeros_(t) return init.constant_(t, 0) end
function init.ones_(t) return init.constant_(t, 1) end

-- Options of the Kaiming initialisers: a number (the negative slope a) or {a, mode, nonlinearity}.
local function kaiming_std(t, o, fn)
  if type(o) == "number" then o = {a = o} end
  o = o or {}
  local fan_in, fan_out = fans(t, fn)
  local mode = o.mode or "fan_in"
  if mode ~= "fan_in" and mode ~= "fan_out" then
    error(fn .. ": mode must be 'fan_in' or 'fan_out', got '" .. tostring(mode) .. "'", 3)
  end
  local fan = mode == "fan_in" and fan_in or fan_out
  return init.calculate_gain(o.nonlinearity or "leaky_relu", o.a or 0) / math.sqrt(fan)
end

function init.kaiming_uniform_(t, o)
  local bound = math.sqrt(3) * kaiming_std(t, o, "tau.nn.init.kaiming_uniform_")
  return init.uniform_(t, -bound, bound)
end

function init.kaiming_normal_(t, o)
  return init.normal_(t, 0, kaiming_std(t, o, "tau.nn.init.kaiming_normal_"))
end

function init.xavier_uniform_(t, gain)
  local fan_in, fan_out = fans(t, "tau.nn.init.xavier_uniform_")
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return init.uniform_(t, -bound, bound)
end

function init.xavier_normal_(t, gain)
  local fan_in, fan_out = fans(t, "tau.nn.init.xavier_normal_")
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)))
end

-- Normal(mean, std) restricted to [a, b] (absolute bounds, as PyTorch), by redrawing the
-- samples that fall outside: each round keeps the accepted ones, so it ends in a few rounds.
function init.trunc_normal_(t, o)
  o = o or {}
  local mean, std = o.mean or 0, o.std or 1
  local a, b = o.a or -2, o.b or 2
  if not (a < b) then error("tau.nn.init.trunc_normal_: need a < b, got a = " .. a .. ", b = " .. b, 2) end
  in_place(function()
    local x = tau.randn(t:size()) * std + mean
    for _ = 1, 100 do
      local bad = x:lt(a) + x:gt(b)
      if bad:sum():item() == 0 then break end
      x = tau.where(bad, tau.randn(t:size()) * std + mean, x)
    end
    t:copy_(x:clamp(a, b))
  end)
  return t
end

-------------------------------------------------------------------------------- Module

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
  if type(name) ~= "string" then error("tau.nn.Module:extend: the class needs a name (a string)", 2) end
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
  error(self.__name .. ": forward is not implemented", 2)
end

function Module:register_parameter(name, t)
  if t ~= nil and not is_tensor(t) then
    error(self.__name .. ":register_parameter: '" .. name .. "' must be a tensor or nil", 2)
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
    error(self.__name .. ":register_buffer: '" .. name .. "' must be a tensor or nil", 2)
  end
  rawset(self, name, nil)
  reg_set(self._modules, name, nil); reg_set(self._parameters, name, nil)
  reg_set(self._buffers, name, t)
  self._non_persistent[name] = persistent == false or nil
  return t
end

function Module:add_module(name, m)
  if m ~= nil and not is_module(m) then error(self.__name .. ":add_module: '" .. tostring(name) .. "' is not a module", 2) end
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

function Module:load_state_dict(sd, o)
  o = o or {}
  local strict = o.strict ~= false
  if type(sd) ~= "table" then error(self.__name .. ":load_state_dict: expected a table name -> tensor, got " .. type(sd), 2) end
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
    error("load_state_dict: error(s) loading the state dict into " .. self.__name .. ":\n\t" ..
          table.concat(errs, "\n\t"), 2)
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

-------------------------------------------------------------------------------- layers

local function new_param(...)
  return tau.empty(...):requires_grad()
end

-- PyTorch's default for linear and convolution layers: Kaiming-uniform with a = sqrt(5),
-- i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range.
local function default_init(w, b)
  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  if b then
    local fan_in = fans(w, "tau.nn.init")
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(b, -bound, bound)
  end
end

local function flag(v, def) if v == nil then return def end return v and true or false end

local Linear = Module:extend("Linear")
nn.Linear = Linear

function Linear:init(i, o, opts)
  local fn = "tau.nn.Linear"
  opts = opt(opts, fn)
  self.in_features = check_positive_int(i, "in_features", fn)
  self.out_features = check_positive_int(o, "out_features", fn)
  self.weight = new_param(o, i)
  if flag(opts.bias, true) then self.bias = new_param(o) end
  self:reset_parameters()
end

function Linear:reset_parameters() default_init(self.weight, self.bias) end

function Linear:forward(x) return F.linear(x, self.weight, self.bias) end

function Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features, self.out_features,
                       tostring(self.bias ~= nil))
end

local Conv2d = Module:extend("Conv2d")
nn.Conv2d = Conv2d

function Conv2d:init(i, o, k, opts)
  local fn = "tau.nn.Conv2d"
  opts = opt(opts, fn)
  self.in_channels = check_positive_int(i, "in_channels", fn)
  self.out_channels = check_positive_int(o, "out_channels", fn)
  self.kernel_size = pair(k, "kernel size", fn)
  self.stride = pair(opts.stride or 1, "stride", fn)
  self.dilation = pair(opts.dilation or 1, "dilation", fn)
  self.groups = check_positive_int(opts.groups or 1, "groups", fn)
  if i % self.groups ~= 0 or o % self.groups ~= 0 then
    error(string.format("%s: in_channels (%d) and out_channels (%d) must be divisible by groups (%d)",
                        fn, i, o, self.groups), 2)
  end
  local pad = opts.padding or 0
  if pad == "same" then
    -- stride 1 keeps the size when the total padding dilation * (k - 1) is split evenly
    if self.stride[1] ~= 1 or self.stride[2] ~= 1 then error(fn .. ": padding 'same' needs stride 1", 2) end
    pad = {}
    for d = 1, 2 do
      local total = self.dilation[d] * (self.kernel_size[d] - 1)
      if total % 2 ~= 0 then error(fn .. ": padding 'same' needs an odd (dilated) kernel size", 2) end
      pad[d] = total // 2
    end
  end
  self.padding = pair(pad, "padding", fn)
  self.weight = new_param(o, i // self.groups, self.kernel_size[1], self.kernel_size[2])
  if flag(opts.bias, true) then self.bias = new_param(o) end
  self:reset_parameters()
end

function Conv2d:reset_parameters() default_init(self.weight, self.bias) end

function Conv2d:forward(x)
  return F.conv2d(x, self.weight, self.bias,
                  {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = self.groups})
end

local function pair_str(p) return p[1] == p[2] and tostring(p[1]) or "(" .. p[1] .. ", " .. p[2] .. ")" end

function Conv2d:extra_repr()
  local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
                          pair_str(self.kernel_size), pair_str(self.stride))
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ", padding=" .. pair_str(self.padding) end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. pair_str(self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=false" end
  return s
end

-- Batch normalisation over (N, C, ...): batch statistics in training (updating the running
-- ones with momentum), running statistics in evaluation.
local BatchNorm = Module:extend("BatchNorm")
nn.BatchNorm = BatchNorm

function BatchNorm:init(c, opts, fn, dims)
  fn = fn or "tau.nn.BatchNorm"
  opts = opt(opts, fn)
  self.num_features = check_positive_int(c, "num_features", fn)
  self.eps = opts.eps or 1e-5
  self.momentum = opts.momentum or 0.1
  self.affine = flag(opts.affine, true)
  self.track_running_stats = flag(opts.track_running_stats, true)
  self.input_dims = dims
  if self.affine then
    self.weight = tau.ones(c):requires_grad()
    self.bias = tau.zeros(c):requires_grad()
  end
  if self.track_running_stats then
    self:register_buffer("running_mean", tau.zeros(c))
    self:register_buffer("running_var", tau.ones(c))
  end
end

function BatchNorm:forward(x)
  local dims = self.input_dims
  if dims then
    local d = x:dim()
    local ok = false
    for _, v in ipairs(dims) do ok = ok or v == d end
    if not ok then
      error(string.format("%s: expected a %s-dimensional input, got size %s", self.__name,
                          table.concat(dims, " or "), shape_str(x)), 2)
    end
  end
  if x:size(2) ~= self.num_features then
    error(string.format("%s: expected %d channels (dimension 2), got size %s", self.__name,
                        self.num_features, shape_str(x)), 2)
  end
  local use_batch = self.training or not self.track_running_stats
  return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                      {training = use_batch, momentum = self.momentum, eps = self.eps})
end

function BatchNorm:extra_repr()
  return string.format("%d, eps=%g, momentum=%g, affine=%s", self.num_features, self.eps, self.momentum,
                       tostring(self.affine))
end

nn.BatchNorm2d = BatchNorm:extend("BatchNorm2d", {
  init = function(self, c, opts) BatchNorm.init(self, c, opts, "tau.nn.BatchNorm2d", {4}) end})
nn.BatchNorm1d = BatchNorm:extend("BatchNorm1d", {
  init = function(self, c, opts) BatchNorm.init(self, c, opts, "tau.nn.BatchNorm1d", {2, 3}) end})

-- LayerNorm(d) normalises the last dimension; LayerNorm{d1, d2} the last two.
local LayerNorm = Module:extend("LayerNorm")
nn.LayerNorm = LayerNorm

function LayerNorm:init(shape, opts)
  local fn = "tau.nn.LayerNorm"
  opts = opt(opts, fn)
  if type(shape) == "number" then shape = {shape} end
  if type(shape) ~= "table" or #shape == 0 then error(fn .. ": normalized shape must be a number or a list of sizes", 2) end
  self.normalized_shape = {}
  for i, s in ipairs(shape) do self.normalized_shape[i] = check_positive_int(s, "normalized shape", fn) end
  self.eps = opts.eps or 1e-5
  self.elementwise_affine = flag(opts.elementwise_affine, true)
  if self.elementwise_affine then
    self.weight = tau.ones(self.normalized_shape):requires_grad()
    if flag(opts.bias, true) then self.bias = tau.zeros(self.normalized_shape):requires_grad() end
  end
end

function LayerNorm:forward(x)
  local ns = self.normalized_shape
  local d = x:dim()
  local ok = d >= #ns
  for i = 1, #ns do ok = ok and x:size(d - #ns + i) == ns[i] end
  if not ok then
    error(string.format("LayerNorm: input of size %s does not end with the normalized shape [%s]",
                        shape_str(x), table.concat(ns, ", ")), 2)
  end
  return F.layer_norm(x, self.weight, self.bias, {eps = self.eps, dims = #ns})
end

function LayerNorm:extra_repr()
  return string.format("[%s], eps=%g, elementwise_affine=%s", table.concat(self.normalized_shape, ", "), self.eps,
                       tostring(self.elementwise_affine))
end

-- Stateless layers.
local function simple(name, forward, extra)
  local cls = Module:extend(name)
  cls.forward = forward
  if extra then cls.extra_repr = extra end
  nn[name] = cls
  return cls
end

simple("Identity", function(_, x) return x end)
simple("ReLU", function(_, x) return F.relu(x) end)
simple("Sigmoid", function(_, x) return F.sigmoid(x) end)
simple("Tanh", function(_, x) return F.tanh(x) end)

local GELU = simple("GELU", function(self, x) return F.gelu(x, {approximate = self.approximate}) end,
                    function(self) return self.approximate ~= "none" and "approximate='" .. self.approximate .. "'" or "" end)
function GELU:init(opts)
  opts = opt(opts, "tau.nn.GELU")
  self.approximate = opts.approximate or "none"
  if self.approximate ~= "none" and self.approximate ~= "tanh" then
    error("tau.nn.GELU: approximate must be 'none' or 'tanh', got '" .. tostring(self.approximate) .. "'", 2)
  end
end

local Softmax = simple("Softmax", function(self, x) return F.softmax(x, {dim = self.dim, tau = self.tau}) end,
                       function(self) return "dim=" .. tostring(self.dim) .. ", tau=" .. self.tau end)
function Softmax:init(opts)
  opts = opt(opts, "tau.nn.Softmax")
  self.dim, self.tau = opts.dim, opts.tau or 1
end

local LogSoftmax = simple("LogSoftmax", function(self, x) return F.log_softmax(x, {dim = self.dim, tau = self.tau}) end,
                          function(self) return "dim=" .. tostring(self.dim) .. ", tau=" .. self.tau end)
LogSoftmax.init = Softmax.init

local Dropout = simple("Dropout", function(self, x)
  if not self.training or self.p == 0 then return x end
  return F.dropout(x, self.p, {training = true})
end, function(self) return "p=" .. self.p end)
function Dropout:init(p)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then
    error("tau.nn.Dropout: probability must be between 0 and 1, got " .. tostring(p), 2)
  end
  self.p = p
end

-- Flatten({start_dim = 2, end_dim = -1}): keeps the batch dimension by default.
local Flatten = simple("Flatten", function(self, x) return x:flatten(self.start_dim, self.end_dim) end)
function Flatten:init(opts)
  if type(opts) == "number" then opts = {start_dim = opts} end
  opts = opt(opts, "tau.nn.Flatten")
  self.start_dim, self.end_dim = opts.start_dim or 2, opts.end_dim or -1
end

local function pool_class(name, fwd)
  local cls = Module:extend(name)
  nn[name] = cls
  function cls:init(k, opts)
    local fn = "tau.nn." .. name
    opts = opt(opts, fn)
    self.kernel_size = pair(k, "kernel size", fn)
    self.stride = pair(opts.stride or self.kernel_size, "stride", fn)
    self.padding = pair(opts.padding or 0, "padding", fn)
    self.ceil_mode = opts.ceil_mode or false
    self.count_include_pad = flag(opts.count_include_pad, true)
  end
  function cls:forward(x)
    return fwd(x, {kernel = self.kernel_size, stride = self.stride, padding = self.padding,
                   ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad})
  end
  function cls:extra_repr()
    return string.format("kernel_size=%s, stride=%s, padding=%s", pair_str(self.kernel_size), pair_str(self.stride),
                         pair_str(self.padding))
  end
  return cls
end

pool_class("MaxPool2d", F.max_pool2d)
pool_class("AvgPool2d", F.avg_pool2d)

local AdaptiveAvgPool2d = Module:extend("AdaptiveAvgPool2d")
nn.AdaptiveAvgPool2d = AdaptiveAvgPool2d
function AdaptiveAvgPool2d:init(size) self.output_size = pair(size or 1, "output size", "tau.nn.AdaptiveAvgPool2d") end
function AdaptiveAvgPool2d:forward(x) return F.adaptive_avg_pool2d(x, self.output_size) end
function AdaptiveAvgPool2d:extra_repr() return "output_size=" .. pair_str(self.output_size) end

-- Normalize(mean, std): (x - mean) / std per channel of (N, C, ...) images, inside the model so
-- attacks and corruptions can work on raw [0, 1] pixels. mean and std are numbers or one value
-- per channel; they are saved with the model as buffers.
local Normalize = Module:extend("Normalize")
nn.Normalize = Normalize

function Normalize:init(mean, std)
  local fn = "tau.nn.Normalize"
  if type(mean) == "number" then mean = {mean} end
  if type(std) == "number" then std = {std} end
  if type(mean) ~= "table" or type(std) ~= "table" or #mean == 0 or #mean ~= #std then
    error(fn .. ": mean and std must be numbers or lists of the same length", 2)
  end
  for i = 1, #std do
    if type(std[i]) ~= "number" or std[i] <= 0 then error(fn .. ": std must be positive, got " .. tostring(std[i]), 2) end
  end
  self.channels = #mean
  self:register_buffer("mean", tau.tensor(mean):view(1, #mean, 1, 1))
  self:register_buffer("std", tau.tensor(std):view(1, #std, 1, 1))
end

function Normalize:forward(x)
  local c = self.channels
  if x:dim() < 2 or (c > 1 and x:size(2) ~= c) then
    error(string.format("Normalize: expected (N, %d, ...) input, got size %s", c, shape_str(x)), 2)
  end
  local m, s = self.mean, self.std
  if x:dim() ~= 4 then
    local shape = {1, c}
    for _ = 3, x:dim() do shape[#shape + 1] = 1 end
    m, s = m:view(shape), s:view(shape)
  end
  return (x - m) / s
end

function Normalize:extra_repr()
  local function list(t) local v = {} for i = 1, self.channels do v[i] = string.format("%g", t:get_flat(i)) end return "{" .. table.concat(v, ", ") .. "}" end
  return "mean=" .. list(self.mean) .. ", std=" .. list(self.std)
end

-------------------------------------------------------------------------------- containers

-- Sequential{m1, m2, ...}: children named "1", "2", ...; seq[i], #seq, seq:add(m).
local Sequential = Module:extend("Sequential")
nn.Sequential = Sequential

function Sequential:init(list, ...)
  if is_module(list) then list = {list, ...} end
  list = list or {}
  for i, m in ipairs(list) do
    if not is_module(m) then error("tau.nn.Sequential: element " .. i .. " is not a module (" .. type(m) .. ")", 3) end
    self:add(m)
  end
end

function Sequential:add(m)
  if not is_module(m) then error("Sequential:add: expected a module, got " .. type(m), 2) end
  self:add_module(tostring(#self._modules.names + 1), m)
  return self
end

function Sequential:forward(x)
  local items, names = self._modules.items, self._modules.names
  for i = 1, #names do x = items[names[i]]:forward(x) end
  return x
end

Sequential.__len = function(self) return #self._modules.names end
do
  local base_index = Sequential.__index
  Sequential.__index = function(self, k)
    if math.type(k) == "integer" then
      local names = rawget(self, "_modules").names
      if k < 0 then k = #names + k + 1 end
      return rawget(self, "_modules").items[names[k]]
    end
    return base_index(self, k)
  end
end

-- Subclasses of Sequential keep integer indexing and #.
function Sequential:extend(name, methods)
  local cls = Module.extend(self, name, methods)
  local base_index = cls.__index
  cls.__index = function(s, k)
    if math.type(k) == "integer" then return Sequential.__index(s, k) end
    return base_index(s, k)
  end
  cls.__len = Sequential.__len
  return cls
end

-- ModuleList{...}: children named "1", "2", ... with no forward of its own.
local ModuleList = Sequential:extend("ModuleList")
nn.ModuleList = ModuleList
function ModuleList:forward() error("ModuleList: has no forward; call its elements", 2) end

-------------------------------------------------------------------------------- attention

-- MultiheadAttention(d, h, {dropout = 0, bias = true}) on batch-first (B, T, d) inputs:
--   mha(x [, mask | {mask, key_padding_mask}])          self-attention
--   mha(query, key, value [, mask | {mask, ...}])        key/value of size (B, S, d)
-- Returns the (B, T, d) output. mask is (T, S), (B, T, S), (B * h, T, S) or (B, h, T, S):
-- float masks are added to the scores, int32 masks (from comparisons) block where non-zero.
-- key_padding_mask is (B, S), non-zero (or a float added to the scores) for ignored keys.
local MHA = Module:extend("MultiheadAttention")
nn.MultiheadAttention = MHA

function MHA:init(d, h, opts)
  local fn = "tau.nn.MultiheadAttention"
  opts = opt(opts, fn)
  self.embed_dim = check_positive_int(d, "embed_dim", fn)
  self.num_heads = check_positive_int(h, "num_heads", fn)
  if d % h ~= 0 then error(string.format("%s: embed_dim (%d) must be divisible by num_heads (%d)", fn, d, h), 2) end
  self.head_dim = d // h
  self.dropout = opts.dropout or 0
  local bias = flag(opts.bias, true)
  self.in_proj_weight = new_param(3 * d, d)
  if bias then self.in_proj_bias = tau.zeros(3 * d):requires_grad() end
  self.out_proj = Linear(d, d, {bias = bias})
  init.xavier_uniform_(self.in_proj_weight)
  if bias then init.zeros_(self.out_proj.bias) end
end

local function additive(mask)
  if mask:dtype() == "int32" then return tau.where(mask:ne(0), -math.huge, 0) end
  return mask
end

local function attn_mask(self, mask, kpm, b, t, s)
  local h = self.num_heads
  local m
  if mask then
    m = additive(mask)
    local d = m:dim()
    if d == 2 then
      m = m:view(1, 1, t, s)
    elseif d == 3 then
      if m:size(1) == b * h and b * h ~= b then m = m:reshape(b, h, t, s)
      else m = m:unsqueeze(2) end
    elseif d ~= 4 then
      error("MultiheadAttention: mask must have 2 to 4 dimensions, got size " .. shape_str(mask), 3)
    end
  end
  if kpm then
    if kpm:dim() ~= 2 or kpm:size(1) ~= b or kpm:size(2) ~= s then
      error(string.format("MultiheadAttention: key_padding_mask must be of size [%d, %d], got %s", b, s,
                          shape_str(kpm)), 3)
    end
    -- the attention kernel broadcasts masks over batch and heads only, not over queries
    local k = additive(kpm):view(b, 1, 1, s)
    m = m and m + k or k:expand(b, 1, t, s)
  end
  return m
end

function MHA:forward(q, k, v, o)
  if not is_tensor(k) or not is_tensor(v) then o, k, v = k, q, q end
  if is_tensor(o) then o = {mask = o} end
  o = o or {}
  if q:dim() ~= 3 or q:size(3) ~= self.embed_dim then
    error(string.format("MultiheadAttention: query must be (B, T, %d), got size %s", self.embed_dim, shape_str(q)), 2)
  end
  local b, t, d, h, hd = q:size(1), q:size(2), self.embed_dim, self.num_heads, self.head_dim
  local s = k:size(2)
  local w, bias = self.in_proj_weight, self.in_proj_bias
  local qh, kh, vh
  if k == q and v == q then
    -- one projection for all three, split by a view: (B, T, 3, h, hd) -> 3 x (B, h, T, hd)
    local qkv = F.linear(q, w, bias):view(b, t, 3, h, hd):permute(3, 1, 4, 2, 5)
    qh, kh, vh = qkv[1], qkv[2], qkv[3]
  else
    local function proj(x, i, n)
      local wi = w:narrow(1, (i - 1) * d + 1, d)
      local bi = bias and bias:narrow(1, (i - 1) * d + 1, d)
      return F.linear(x, wi, bi):view(b, n, h, hd):transpose(2, 3)
    end
    qh, kh, vh = proj(q, 1, t), proj(k, 2, s), proj(v, 3, s)
  end
  local m = attn_mask(self, o.mask, o.key_padding_mask, b, t, s)
  local out = F.attention(qh, kh, vh, {mask = m, causal = o.causal, dropout = self.dropout,
                                       training = self.training})
  return self.out_proj(out:transpose(2, 3):reshape(b, t, d))
end

function MHA:extra_repr()
  return string.format("embed_dim=%d, num_heads=%d, dropout=%g", self.embed_dim, self.num_heads, self.dropout)
end

return nn
