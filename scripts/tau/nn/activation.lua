-- Stateless layers: activations, softmax, dropout, flatten.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local pair, pair_str, check_positive_int, opt, flag = common.pair, common.pair_str, common.check_positive_int, common.opt, common.flag
local new_param, default_init, shape_str = common.new_param, common.default_init, common.shape_str

local nn = {}

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

return nn
