-- Linear layers.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local pair, pair_str, check_positive_int, opt, flag = common.pair, common.pair_str, common.check_positive_int, common.opt, common.flag
local new_param, default_init, shape_str = common.new_param, common.default_init, common.shape_str

local nn = {}

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

return nn
