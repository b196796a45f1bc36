-- Pooling layers.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local pair, pair_str = common.pair, common.pair_str
local spec = tau.options.spec

local nn = {}

local function pool_class(name, fwd)
  local cls = Module:extend(name)
  nn[name] = cls
  local fn = "tau.nn." .. name
  local check = spec(fn, {
    stride = {"number|table", desc = "a number or a pair {h, w}"}, padding = {"number|table", desc = "a number or a pair {h, w}", default = 0},
    ceil_mode = {"boolean", default = false}, count_include_pad = {"boolean", default = true}})
  function cls:init(k, opts)
    opts = check(opts)
    self.kernel_size = pair(k, "kernel size", fn)
    self.stride = pair(opts.stride or self.kernel_size, "stride", fn)
    self.padding = pair(opts.padding, "padding", fn)
    self.ceil_mode = opts.ceil_mode
    self.count_include_pad = opts.count_include_pad
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

return nn
