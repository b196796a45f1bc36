-- Convolution layers.
local tau = require "tau"
local F = tau.F
local Module = require("tau.nn.module").Module
local common = require "tau.nn.common"
local pair, pair_str, check_positive_int, opt, flag = common.pair, common.pair_str, common.check_positive_int, common.opt, common.flag
local new_param, default_init, shape_str = common.new_param, common.default_init, common.shape_str

local nn = {}

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
