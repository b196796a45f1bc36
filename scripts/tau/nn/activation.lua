-- Stateless layers: activations, softmax, dropout, flatten.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local util = require "tau.util"
local raise = util.raise
local spec = tau.options.spec

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
local gelu_opts = spec("tau.nn.GELU", {approximate = {"string", choices = {"none", "tanh"}, default = "none"}})
function GELU:init(opts) self.approximate = gelu_opts(opts).approximate end

local Softmax = simple("Softmax", function(self, x) return F.softmax(x, {dim = self.dim, tau = self.tau}) end,
                       function(self) return "dim=" .. tostring(self.dim) .. ", tau=" .. self.tau end)
local SOFTMAX = {dim = "integer", tau = {"number", above = 0, default = 1}}
local softmax_opts = spec("tau.nn.Softmax", SOFTMAX)
function Softmax:init(opts)
  opts = softmax_opts(opts)
  self.dim, self.tau = opts.dim, opts.tau
end

local LogSoftmax = simple("LogSoftmax", function(self, x) return F.log_softmax(x, {dim = self.dim, tau = self.tau}) end,
                          function(self) return "dim=" .. tostring(self.dim) .. ", tau=" .. self.tau end)
local log_softmax_opts = spec("tau.nn.LogSoftmax", SOFTMAX)
function LogSoftmax:init(opts)
  opts = log_softmax_opts(opts)
  self.dim, self.tau = opts.dim, opts.tau
end

local Dropout = simple("Dropout", function(self, x)
  if not self.training or self.p == 0 then return x end
  return F.dropout(x, self.p, {training = true})
end, function(self) return "p=" .. self.p end)
function Dropout:init(p)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then
    raise("tau.nn.Dropout: probability must be between 0 and 1, got " .. tostring(p))
  end
  self.p = p
end

-- Flatten({start_dim = 2, end_dim = -1}): keeps the batch dimension by default.
local flatten_opts = spec("tau.nn.Flatten", {start_dim = {"integer", default = 2}, end_dim = {"integer", default = -1}})
local Flatten = simple("Flatten", function(self, x) return x:flatten(self.start_dim, self.end_dim) end)
function Flatten:init(opts)
  if type(opts) == "number" then opts = {start_dim = opts} end
  opts = flatten_opts(opts)
  self.start_dim, self.end_dim = opts.start_dim, opts.end_dim
end

return nn
