-- Convolution layers.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local pair, pair_str, check_positive_int, new_param, default_init = common.pair, common.pair_str, common.check_positive_int, common.new_param, common.default_init
local util = require "tau.util"
local raise = util.raise
local spec = tau.options.spec

local nn = {}

local Conv2d = Module:extend("Conv2d")
nn.Conv2d = Conv2d

local PAIR = "a number or a pair {h, w}"
local conv_opts = spec("tau.nn.Conv2d", {
  stride = {"number|table", desc = PAIR, default = 1}, padding = {"number|table|string", desc = PAIR .. " or 'same'", default = 0},
  dilation = {"number|table", desc = PAIR, default = 1}, groups = {"integer", min = 1, default = 1},
  bias = {"boolean", default = true}})
function Conv2d:init(i, o, k, opts)
  local fn = "tau.nn.Conv2d"
  opts = conv_opts(opts)
  self.in_channels = check_positive_int(i, "in_channels", fn)
  self.out_channels = check_positive_int(o, "out_channels", fn)
  self.kernel_size = pair(k, "kernel size", fn)
  self.stride = pair(opts.stride, "stride", fn)
  self.dilation = pair(opts.dilation, "dilation", fn)
  self.groups = opts.groups
  if i % self.groups ~= 0 or o % self.groups ~= 0 then
    raise(string.format("%s: in_channels (%d) and out_channels (%d) must be divisible by groups (%d)",
                        fn, i, o, self.groups))
  end
  local pad = opts.padding
  if pad == "same" then
    -- stride 1 keeps the size when the total padding dilation * (k - 1) is split evenly
    if self.stride[1] ~= 1 or self.stride[2] ~= 1 then raise(fn .. ": padding 'same' needs stride 1") end
    pad = {}
    for d = 1, 2 do
      local total = self.dilation[d] * (self.kernel_size[d] - 1)
      if total % 2 ~= 0 then raise(fn .. ": padding 'same' needs an odd (dilated) kernel size") end
      pad[d] = total // 2
    end
  end
  self.padding = pair(pad, "padding", fn)
  self.weight = new_param(o, i // self.groups, self.kernel_size[1], self.kernel_size[2])
  if opts.bias then self.bias = new_param(o) end
  self:reset_parameters()
end

function Conv2d:reset_parameters() default_init(self.weight, self.bias) end

function Conv2d:forward(x)
  return F.conv2d(x, self.weight, self.bias,
                  {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = self.groups})
end

function Conv2d:extra_repr()
  local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
                          pair_str(self.kernel_size), pair_str(self.stride))
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ", padding=" .. pair_str(self.padding) end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. pair_str(self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=false" end
  return s
end

return nn
