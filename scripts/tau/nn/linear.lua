-- Linear layers.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local check_positive_int, new_param, default_init = common.check_positive_int, common.new_param, common.default_init
local spec = tau.options.spec

local nn = {}

local Linear = Module:extend("Linear")
nn.Linear = Linear

local linear_opts = spec("tau.nn.Linear", {bias = {"boolean", default = true}})
function Linear:init(i, o, opts)
  local fn = "tau.nn.Linear"
  opts = linear_opts(opts)
  self.in_features = check_positive_int(i, "in_features", fn)
  self.out_features = check_positive_int(o, "out_features", fn)
  self.weight = new_param(o, i)
  if opts.bias then self.bias = new_param(o) end
  self:reset_parameters()
end

function Linear:reset_parameters() default_init(self.weight, self.bias) end

function Linear:forward(x) return F.linear(x, self.weight, self.bias) end

function Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features, self.out_features,
                       tostring(self.bias ~= nil))
end

return nn
